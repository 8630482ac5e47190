"""The only SQL for jobs and their log lines."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from opsledger.db import queries
from opsledger.hosts.models import Host
from opsledger.jobs.models import Job, JobLog, JobStatus
from opsledger.kit.pagination import Rows

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
) -> Rows[Job]:
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


async def for_run(session: AsyncSession, job_id: int) -> Job | None:
    """The job with what running it needs: its playbook, and its host with the role."""
    statement = (
        select(Job)
        .where(Job.id == job_id)
        .options(selectinload(Job.playbook), selectinload(Job.host).selectinload(Host.role))
    )
    return await session.scalar(statement)


async def last_lines(session: AsyncSession, job_id: int, count: int) -> list[str]:
    statement = (
        select(_logs.c.content)
        .where(_logs.c.job_id == job_id)
        .order_by(_logs.c.line_number.desc())
        .limit(count)
    )
    return list(reversed((await session.scalars(statement)).all()))


async def pending(session: AsyncSession, limit: int) -> list[int]:
    """The oldest pending jobs (the (status, created_at) index)."""
    statement = (
        select(Job.id)
        .where(Job.status == JobStatus.pending)
        .order_by(Job.created_at, Job.id)
        .limit(limit)
    )
    return list((await session.scalars(statement)).all())


async def undispatched(
    session: AsyncSession, before: datetime, limit: int
) -> list[tuple[int, str]]:
    """(id, task id) of pending Celery jobs created before ``before`` whose task never
    reached the broker."""
    statement = (
        select(Job.id, Job.celery_task_id)
        .where(
            Job.status == JobStatus.pending,
            Job.created_at < before,
            Job.celery_task_id.is_not(None),
            Job.dispatched_at.is_(None),
        )
        .order_by(Job.created_at, Job.id)
        .limit(limit)
    )
    return [(job_id, str(task)) for job_id, task in await session.execute(statement)]


async def mark_dispatched(session: AsyncSession, job_id: int, when: datetime) -> None:
    await session.execute(update(Job).where(Job.id == job_id).values(dispatched_at=when))


async def silent(session: AsyncSession, since: datetime, limit: int) -> list[int]:
    """Running jobs whose worker has not written a heartbeat since ``since``."""
    statement = (
        select(Job.id)
        .where(
            Job.status == JobStatus.running,
            func.coalesce(Job.heartbeat_at, Job.started_at, Job.created_at) < since,
        )
        .order_by(Job.id)
        .limit(limit)
    )
    return list((await session.scalars(statement)).all())


async def beat(session: AsyncSession, job_id: int, at: datetime) -> bool:
    """Stamp the heartbeat of a job that is still running; False once it is not."""
    statement = (
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.running)
        .values(heartbeat_at=at)
        .execution_options(synchronize_session=False)
    )
    return bool((await session.execute(statement)).rowcount)  # type: ignore[attr-defined]


async def lines_before(session: AsyncSession, cutoff: datetime, limit: int) -> list[int]:
    """Ids of up to ``limit`` log lines written before ``cutoff`` (the timestamp index)."""
    statement = select(_logs.c.id).where(_logs.c.timestamp < cutoff).limit(limit)
    return list((await session.scalars(statement)).all())


async def count_lines_before(session: AsyncSession, cutoff: datetime) -> int:
    statement = select(func.count()).select_from(_logs).where(_logs.c.timestamp < cutoff)
    return int(await session.scalar(statement) or 0)


async def delete_lines(session: AsyncSession, ids: list[int]) -> int:
    result = await session.execute(delete(JobLog).where(JobLog.id.in_(ids)))
    return int(result.rowcount)  # type: ignore[attr-defined]


async def latest(session: AsyncSession, count: int, host_id: int | None = None) -> list[Job]:
    statement = select(Job).order_by(Job.id.desc()).limit(count)
    if host_id is not None:
        statement = statement.where(Job.host_id == host_id)
    return list((await session.scalars(statement)).all())


async def running_ids(session: AsyncSession) -> list[int]:
    statement = select(Job.id).where(Job.status == JobStatus.running)
    return list((await session.scalars(statement)).all())
