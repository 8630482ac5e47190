"""Handing jobs to the backend that runs them, once their transaction has committed.

Embedded: nothing to send, the server's pool polls for pending jobs. Celery: the task
is sent after the commit (so the worker can see the job), from a thread so that a slow
or unreachable broker never blocks the event loop; a job whose task could not be sent
stays pending, visible, and can be cancelled."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.config import JobBackend, Settings
from opsledger.jobs import broker
from opsledger.jobs.models import Job

log = logging.getLogger(__name__)

_sending: set[asyncio.Task[None]] = set()


def task_id(settings: Settings) -> str | None:
    return str(uuid.uuid4()) if settings.job_backend is JobBackend.celery else None


def after_commit(session: AsyncSession, settings: Settings, job: Job) -> None:
    if job.celery_task_id is not None:
        _on_commit(session, f"send job {job.id}", broker.send, settings, job.id, job.celery_task_id)


def revoke_after_commit(session: AsyncSession, settings: Settings, job: Job) -> None:
    if job.celery_task_id is not None:
        _on_commit(session, f"revoke job {job.id}", broker.revoke, settings, job.celery_task_id)


def _on_commit(session: AsyncSession, what: str, action: Callable[..., None], *args: Any) -> None:
    loop = asyncio.get_running_loop()

    def attempt() -> None:
        try:
            action(*args)
        except Exception:
            log.exception("could not %s to Celery", what)

    def committed(_session: object) -> None:
        task = loop.create_task(asyncio.to_thread(attempt))
        _sending.add(task)
        task.add_done_callback(_sending.discard)

    event.listen(session.sync_session, "after_commit", committed, once=True)


async def settled() -> None:
    """Wait until every send or revoke started so far is done (before a CLI exits)."""
    await asyncio.gather(*_sending)
