"""The only SQL for jobs and their log lines."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.db import queries
from opsledger.jobs.models import Job, JobLog, JobStatus

_logs = JobLog.__table__


async def get(session: AsyncSession, job_id: int) -> Job | None:
    return await session.get(Job, job_id)


async def page(
    session: AsyncSession,
    filters: dict[str, Any],
    since: datetime | None,
    until: datetime | None,
    limit: int,
    after: int | None,
) -> list[Job]:
    statement = select(Job)
    if since is not None:
        statement = statement.where(Job.created_at >= since)
    if until is not None:
        statement = statement.where(Job.created_at < until)
    return await queries.page(session, Job, filters, limit, after, statement)


async def add(session: AsyncSession, job: Job) -> Job:
    session.add(job)
    await session.flush()
    return job


async def log_lines(session: AsyncSession, job_id: int, after: int, limit: int) -> list[Any]:
    """Lines after ``after``, in order: a seek on the (job_id, line_number, …) index."""
    statement = (
        select(_logs.c.line_number, _logs.c.content, _logs.c.log_level, _logs.c.timestamp)
        .where(_logs.c.job_id == job_id, _logs.c.line_number > after)
        .order_by(_logs.c.line_number)
        .limit(limit)
    )
    return list((await session.execute(statement)).all())


async def status(session: AsyncSession, job_id: int) -> JobStatus | None:
    found: JobStatus | None = await session.scalar(select(Job.status).where(Job.id == job_id))
    return found
