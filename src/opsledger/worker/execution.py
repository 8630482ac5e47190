"""The job function both backends run: claim a pending job, run it, record how it ended.

While the playbook runs, a watcher writes the job's heartbeat and notices when the job
was cancelled (by anyone, from any process: the status in the database is the signal),
which stops the run."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from opsledger.config import Settings
from opsledger.db.engine import create_engine, reader
from opsledger.db.session import session_factory, unit_of_work
from opsledger.jobs import lifecycle
from opsledger.jobs.models import JobStatus
from opsledger.jobs.plans import Line, Outcome
from opsledger.kit.errors import ValidationFailed
from opsledger.security.context import system_context
from opsledger.security.crypto import KeyRingError
from opsledger.worker import runner
from opsledger.worker.ingest import LogWriter

log = logging.getLogger(__name__)

WATCH_SECONDS = 1.0


async def run_job(
    engine: AsyncEngine, settings: Settings, job_id: int, worker: str
) -> JobStatus | None:
    """Run job ``job_id`` if it is still pending; returns its final status, or None when
    another worker took it or it was cancelled before it started."""
    sessions = session_factory(engine)
    try:
        async with unit_of_work(sessions) as session:
            plan = await lifecycle.claim(system_context(session, settings, worker), job_id)
    except (ValidationFailed, KeyRingError) as exc:
        async with unit_of_work(sessions) as session:
            ctx = system_context(session, settings, worker)
            return await lifecycle.refuse(ctx, job_id, f"cannot start: {exc}")
    if plan is None:
        return None
    cancel = asyncio.Event()
    writer = await LogWriter.resume(engine, job_id, plan.job_created)

    async def emit(line: Line) -> None:
        await writer.write(line.content, line.level, line.at)

    watcher = asyncio.create_task(_watch(engine, settings, job_id, cancel))
    try:
        outcome = await runner.execute(plan, settings, emit, cancel)
    except asyncio.CancelledError:
        interrupted = Outcome(JobStatus.failed, "the worker shut down while the job ran")
        await asyncio.shield(_end(sessions, settings, worker, writer, interrupted))
        raise
    except Exception as exc:
        log.exception("job %s could not be run", job_id)
        error = f"opsledger could not run the job: {type(exc).__name__}"
        outcome = Outcome(JobStatus.failed, error)
    finally:
        watcher.cancel()
    return await _end(sessions, settings, worker, writer, outcome)


async def run_alone(settings: Settings, job_id: int, worker: str) -> JobStatus | None:
    """``run_job`` with an engine of its own (a Celery task, a CLI command)."""
    engine = create_engine(settings)
    try:
        return await run_job(engine, settings, job_id, worker)
    finally:
        await engine.dispose()


async def _end(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    worker: str,
    writer: LogWriter,
    outcome: Outcome,
) -> JobStatus | None:
    try:
        await writer.close()
    except (SQLAlchemyError, OSError):
        log.exception("the last unwritten lines of job %s were lost", writer.job_id)
    async with unit_of_work(sessions) as session:
        ctx = system_context(session, settings, worker)
        return await lifecycle.finish(ctx, writer.job_id, outcome)


async def _watch(
    engine: AsyncEngine, settings: Settings, job_id: int, cancel: asyncio.Event
) -> None:
    """Heartbeat every ``job_heartbeat_seconds``; in between, a status read each second
    (a plain read: on SQLite it does not take the write lock). Either finding the job no
    longer running sets ``cancel``."""
    writes, reads = session_factory(engine), session_factory(reader(engine))
    loop = asyncio.get_running_loop()
    next_beat = loop.time() + settings.job_heartbeat_seconds
    while not cancel.is_set():
        await asyncio.sleep(min(WATCH_SECONDS, settings.job_heartbeat_seconds))
        try:
            if loop.time() >= next_beat:
                next_beat = loop.time() + settings.job_heartbeat_seconds
                async with unit_of_work(writes) as session:
                    running = await lifecycle.heartbeat(session, job_id)
            else:
                async with unit_of_work(reads) as session:
                    running = await lifecycle.is_running(session, job_id)
        except (SQLAlchemyError, OSError):
            log.warning("could not check on job %s; trying again", job_id, exc_info=True)
            continue
        if not running:
            cancel.set()
