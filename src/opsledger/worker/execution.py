"""The job function both backends run: claim a pending batch (the jobs of a run's batch,
or a job of its own), run it, record how each job ended.

While the playbook runs, a watcher writes the batch's heartbeat and notices when a job
of it was cancelled (by anyone, from any process: the status in the database is the
signal), which stops the run."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.config import JobBackend, Settings
from opsledger.db.engine import create_engine, reader, transient
from opsledger.db.session import session_factory, unit_of_work
from opsledger.jobs import dispatch, lifecycle
from opsledger.jobs.models import JobStatus
from opsledger.jobs.plans import Line, Outcome, Plan, TaskResult
from opsledger.kit.errors import Conflict, ValidationFailed
from opsledger.runs import service as runs
from opsledger.security.context import Ctx, system_context
from opsledger.security.crypto import KeyRingError
from opsledger.worker import runner
from opsledger.worker.ingest import LogWriter

log = logging.getLogger(__name__)

WATCH_SECONDS = 1.0


async def run_job(
    engine: AsyncEngine, settings: Settings, job_id: int, worker: str
) -> JobStatus | None:
    """Run the batch job ``job_id`` leads if it can start now; returns that job's final
    status, or None when it did not start (another worker took it, it was cancelled, it
    waits for its turn or for its hosts)."""
    sessions = session_factory(engine)
    try:
        claimed = await claim(engine, settings, job_id, worker)
    except (ValidationFailed, KeyRingError) as exc:
        async with unit_of_work(sessions) as session:
            ctx = system_context(session, settings, worker)
            refused = await lifecycle.refuse(ctx, job_id, str(exc))
            following = await settle_runs(ctx, [job_id])
        await dispatch.send_next(engine, settings, following)
        return refused
    if claimed is None:
        if settings.job_backend is JobBackend.celery:
            async with unit_of_work(sessions) as session:
                await lifecycle.send_again_later(session, job_id)
        return None
    # This job's own end when its host could not be planned (the rest of its batch runs).
    lead_status = JobStatus.failed if job_id in claimed.refused else None
    plan = claimed.plan
    if plan is None:
        return lead_status
    if plan.run_id is not None:
        async with unit_of_work(sessions) as session:
            await runs.started(system_context(session, settings, worker), plan.run_id)
    cancel = asyncio.Event()
    writers = {
        target.job_id: await LogWriter.resume(engine, target.job_id, target.job_created)
        for target in plan.targets
    }

    async def emit(to: int | None, item: Line | TaskResult) -> None:
        chosen = writers.values() if to is None else (writers[to],)
        if isinstance(item, TaskResult):
            for writer in chosen:
                writer.record(replace(item, task=plan.redact(item.task)))
            return
        content = plan.redact(item.content)
        for writer in chosen:
            await writer.write(content, item.level, item.at)

    watcher = asyncio.create_task(_watch(engine, settings, list(writers), cancel))
    try:
        outcomes = await runner.execute(plan, settings, emit, cancel)
    except asyncio.CancelledError:
        interrupted = plan.each(Outcome(JobStatus.failed, "the worker shut down while the job ran"))
        await asyncio.shield(_end(engine, settings, worker, writers, interrupted))
        raise
    except Exception as exc:
        log.exception("job %s could not be run", job_id)
        error = f"opsledger could not run the job: {type(exc).__name__}"
        outcomes = plan.each(Outcome(JobStatus.failed, error))
    finally:
        watcher.cancel()
    outcomes = {job: _redacted(plan, outcome) for job, outcome in outcomes.items()}
    ended = await _end(engine, settings, worker, writers, outcomes)
    return ended.get(job_id, lead_status)


async def settle_runs(ctx: Ctx, job_ids: list[int]) -> int | None:
    """Move the runs of jobs that just ended (``runs.progress``), in their transaction;
    returns a job that leads a next batch, to hand to the backend once committed."""
    following = None
    for run_id in await lifecycle.runs_of(ctx.session, job_ids):
        following = await runs.progress(ctx, run_id) or following
    return following


def _redacted(plan: Plan, outcome: Outcome) -> Outcome:
    """The outcome with no secret prompt value in its reason."""
    if outcome.error is None:
        return outcome
    return replace(outcome, error=plan.redact(outcome.error))


async def claim(
    engine: AsyncEngine, settings: Settings, job_id: int, worker: str
) -> lifecycle.Claim | None:
    """``lifecycle.claim`` in a transaction of its own, rolled back (None: not now) when
    another worker got there first or the database gave the claim up to a deadlock. Jobs
    it refused move their run on in the same transaction (a run whose whole batch was
    refused goes on to its next batch or ends)."""
    try:
        async with unit_of_work(session_factory(engine)) as session:
            ctx = system_context(session, settings, worker)
            claimed = await lifecycle.claim(ctx, job_id)
            refused = [] if claimed is None else list(claimed.refused)
            following = await settle_runs(ctx, refused) if refused else None
    except (Conflict, lifecycle.HostsTaken):
        return None
    except OperationalError as exc:
        if not transient(exc):
            raise
        return None  # InnoDB chose this claim as a deadlock's victim: the next poll tries
    await dispatch.send_next(engine, settings, following)
    return claimed


async def run_when_free(
    engine: AsyncEngine, settings: Settings, job_id: int, worker: str
) -> JobStatus | None:
    """``run_job`` for a command that runs its job itself: tried again every poll while
    the job waits for its turn or its hosts, until it runs or someone else ends it."""
    while (status := await run_job(engine, settings, job_id, worker)) is None:
        async with unit_of_work(session_factory(reader(engine))) as session:
            if await lifecycle.status(session, job_id) is not JobStatus.pending:
                return None
        await asyncio.sleep(settings.job_poll_seconds)
    return status


async def drive_run(engine: AsyncEngine, settings: Settings, run_id: int, worker: str) -> None:
    """Run a run's batches in this process, one after another, until it ends (a command
    with the embedded backend; a server's pool may take a batch first, which is fine)."""
    reads = session_factory(reader(engine))
    while True:
        async with unit_of_work(reads) as session:
            lead = await lifecycle.lead_of_run(session, run_id)
            ended = await runs.has_ended(session, run_id)
        if ended:
            return
        if lead is None:  # a batch runs elsewhere, or between batches: look again
            await asyncio.sleep(settings.job_poll_seconds)
            continue
        await run_when_free(engine, settings, lead, worker)


async def run_alone(settings: Settings, job_id: int, worker: str) -> JobStatus | None:
    """``run_job`` with an engine of its own (a Celery task, a CLI command)."""
    engine = create_engine(settings)
    try:
        return await run_job(engine, settings, job_id, worker)
    finally:
        await engine.dispose()


async def _end(
    engine: AsyncEngine,
    settings: Settings,
    worker: str,
    writers: dict[int, LogWriter],
    outcomes: dict[int, Outcome],
) -> dict[int, JobStatus | None]:
    for writer in writers.values():
        try:
            await writer.close()
        except (SQLAlchemyError, OSError):
            log.exception("the last unwritten lines of job %s were lost", writer.job_id)
    async with unit_of_work(session_factory(engine)) as session:
        ctx = system_context(session, settings, worker)
        ended = {
            job_id: await lifecycle.finish(ctx, job_id, outcome)
            for job_id, outcome in outcomes.items()
        }
        following = await settle_runs(ctx, list(outcomes))
    await dispatch.send_next(engine, settings, following)
    return ended


async def _watch(
    engine: AsyncEngine, settings: Settings, job_ids: list[int], cancel: asyncio.Event
) -> None:
    """Heartbeat every ``job_heartbeat_seconds``; in between, a status read each second
    (a plain read: on SQLite it does not take the write lock). Either finding a job of
    the batch no longer running sets ``cancel``."""
    writes, reads = session_factory(engine), session_factory(reader(engine))
    loop = asyncio.get_running_loop()
    next_beat = loop.time() + settings.job_heartbeat_seconds
    while not cancel.is_set():
        await asyncio.sleep(min(WATCH_SECONDS, settings.job_heartbeat_seconds))
        try:
            if loop.time() >= next_beat:
                next_beat = loop.time() + settings.job_heartbeat_seconds
                async with unit_of_work(writes) as session:
                    running = await lifecycle.heartbeat(session, job_ids)
            else:
                async with unit_of_work(reads) as session:
                    running = await lifecycle.is_running(session, job_ids)
        except (SQLAlchemyError, OSError):
            log.warning("could not check on jobs %s; trying again", job_ids, exc_info=True)
            continue
        if not running:
            cancel.set()
