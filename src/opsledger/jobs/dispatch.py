"""Handing jobs to the backend that runs them, once their transaction has committed.

Embedded: nothing to send, the server's pool polls for pending jobs. Celery: the task
is sent after the commit (so the worker can see the job), from a thread so that a slow
or unreachable broker never blocks the event loop, and the job notes when its task
reached the broker. One whose task could not be sent stays pending, visible and
cancellable, and the reaper sends it again (``redispatch``). A task sent twice is
harmless: only one worker can claim a pending job."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from opsledger.config import JobBackend, Settings
from opsledger.db.base import utcnow
from opsledger.db.session import session_factory, unit_of_work, when_committed
from opsledger.jobs import broker, repository
from opsledger.jobs.models import Job

log = logging.getLogger(__name__)

REDISPATCH_BATCH = 100

_sending: set[asyncio.Task[object]] = set()


def task_id(settings: Settings) -> str | None:
    return str(uuid.uuid4()) if settings.job_backend is JobBackend.celery else None


def after_commit(session: AsyncSession, settings: Settings, job: Job) -> None:
    if job.celery_task_id is not None:
        engine, job_id, task = _engine_of(session), job.id, job.celery_task_id
        _on_commit(session, lambda: send(engine, settings, job_id, task))


def revoke_after_commit(session: AsyncSession, settings: Settings, job: Job) -> None:
    if job.celery_task_id is not None:
        task = job.celery_task_id
        _on_commit(session, lambda: _revoke(settings, task))


async def send(engine: AsyncEngine, settings: Settings, job_id: int, task: str) -> bool:
    """Put the job's task on the queue and note when it got there; False (logged) when
    the broker could not take it."""
    try:
        await asyncio.to_thread(broker.send, settings, job_id, task)
    except Exception:  # whatever the broker client raises: the job stays pending
        log.exception("could not send job %s to Celery; the reaper sends it again", job_id)
        return False
    try:
        async with unit_of_work(session_factory(engine)) as session:
            await repository.mark_dispatched(session, job_id, utcnow())
    except SQLAlchemyError:
        log.exception("job %s was sent, but its dispatch time was not stored", job_id)
    return True


async def send_next(engine: AsyncEngine, settings: Settings, job_id: int | None) -> None:
    """Celery: hand over the job that leads a run's next batch, now that it may start."""
    if job_id is None or settings.job_backend is not JobBackend.celery:
        return
    async with unit_of_work(session_factory(engine)) as session:
        job = await repository.get(session, job_id)
        task = None if job is None else job.celery_task_id
    if task is not None:
        await send(engine, settings, job_id, task)


async def redispatch(engine: AsyncEngine, settings: Settings) -> list[int]:
    """Send again the tasks of pending jobs that never reached the broker; returns the
    ids sent now."""
    before = utcnow() - timedelta(seconds=settings.job_dispatch_retry_seconds)
    async with unit_of_work(session_factory(engine)) as session:
        stuck = await repository.undispatched(session, before, REDISPATCH_BATCH)
    sent = []
    for job_id, task in stuck:
        if not await send(engine, settings, job_id, task):
            break  # the broker is still down: the next pass tries again
        sent.append(job_id)
    return sent


async def _revoke(settings: Settings, task: str) -> None:
    try:
        await asyncio.to_thread(broker.revoke, settings, task)
    except Exception:  # the cancelled job's worker stops it by itself
        log.exception("could not revoke task %s in Celery", task)


def _engine_of(session: AsyncSession) -> AsyncEngine:
    bind = session.bind
    if isinstance(bind, AsyncConnection):
        return bind.engine
    if isinstance(bind, AsyncEngine):
        return bind
    raise TypeError("jobs are created in a session bound to an engine or a connection")


def _on_commit(session: AsyncSession, action: Callable[[], Coroutine[Any, Any, object]]) -> None:
    loop = asyncio.get_running_loop()

    def committed() -> None:
        task = loop.create_task(action())
        _sending.add(task)
        task.add_done_callback(_sending.discard)

    when_committed(session, committed)


async def settled() -> None:
    """Wait until every send or revoke started so far is done (before a CLI exits)."""
    await asyncio.gather(*_sending)
