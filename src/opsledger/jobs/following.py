"""Following a job from outside it: poll loops for the live stream and the shell. They
open their own short transactions (one per poll), so they are entry points' helpers,
not service rules: a follow that lasts an hour holds no connection or lock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from opsledger.db.session import unit_of_work
from opsledger.jobs import repository
from opsledger.jobs.models import JobStatus
from opsledger.jobs.service import lines_of

FINISHED = frozenset({JobStatus.success, JobStatus.failed, JobStatus.cancelled})
FOLLOW_INTERVAL = 0.25


async def follow(
    sessions: async_sessionmaker[AsyncSession], job_id: int, after: int, *, wait: bool = True
) -> AsyncIterator[dict[str, Any]]:
    """Every stored line after ``after``, then (with ``wait``) new lines as they are
    written until the job has finished and all its lines were seen; last, one
    ``{"status": …}``. Each poll is its own short read, so a long follow holds no
    connection or lock."""
    while True:
        async with unit_of_work(sessions) as session:
            # Status first: lines committed before the job finished are then all visible.
            state = await repository.status(session, job_id)
            rows = await repository.log_lines(session, job_id, after, 1000)
        for line in lines_of(rows):
            after = line["line_number"]
            yield line
        if not rows:
            if not wait or state is None or state in FINISHED:
                yield {"status": state}
                return
            await asyncio.sleep(FOLLOW_INTERVAL)


async def wait_for_end(sessions: async_sessionmaker[AsyncSession], job_id: int) -> JobStatus | None:
    """Poll until the job has finished; its final status (None if it does not exist)."""
    while True:
        async with unit_of_work(sessions) as session:
            state = await repository.status(session, job_id)
        if state is None or state in FINISHED:
            return state
        await asyncio.sleep(FOLLOW_INTERVAL)
