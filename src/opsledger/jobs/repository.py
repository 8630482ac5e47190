"""The only SQL for jobs and their log lines."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, selectinload

from opsledger.db import queries
from opsledger.db.driver import DriverSelect
from opsledger.hosts.models import Host
from opsledger.jobs.models import LINES_INDEX, HostLock, Job, JobLog, JobStatus
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


# MariaDB picks a lookup on job_id alone for the page below (reading every earlier line of
# the job through the index: 136 ms for a page after line 900,000, against 1.5 ms for the
# range on both columns it is told to use); the other backends seek without being told.
_LINES_INDEX = f"FORCE INDEX ({LINES_INDEX})"


# Lines after ``after``, in order: a seek on the (job_id, line_number, …) index. The
# hottest bulk read there is, so the driver reads it (db/driver.py).
_LOG_PAGE = DriverSelect(
    select(_logs.c.line_number, _logs.c.content, _logs.c.log_level, _logs.c.timestamp)
    .with_hint(_logs, _LINES_INDEX, "mysql")
    .where(_logs.c.job_id == bindparam("job_id"), _logs.c.line_number > bindparam("after"))
    .order_by(_logs.c.line_number)
    .limit(bindparam("limit"))
)


async def log_lines(session: AsyncSession, job_id: int, after: int, limit: int) -> list[Any]:
    """(line_number, content, log_level, timestamp) of up to ``limit`` lines after
    ``after``, in order."""
    return await _LOG_PAGE.rows(session, job_id=job_id, after=after, limit=limit)


async def status(session: AsyncSession, job_id: int) -> JobStatus | None:
    found: JobStatus | None = await session.scalar(select(Job.status).where(Job.id == job_id))
    return found


async def for_run(session: AsyncSession, job_id: int) -> Job | None:
    """The job with what running it needs: its playbook, and its host with the role."""
    return next(iter(await batch_for_run(session, [job_id])), None)


async def batch_for_run(session: AsyncSession, job_ids: list[int]) -> list[Job]:
    """The jobs with what running them needs (playbook, host and role, run), by id."""
    statement = (
        select(Job)
        .where(Job.id.in_(job_ids))
        .order_by(Job.id)
        .options(
            selectinload(Job.playbook),
            selectinload(Job.host).selectinload(Host.role),
            selectinload(Job.run),
        )
        .execution_options(populate_existing=True)  # rows already in the session too
    )
    return list((await session.scalars(statement)).all())


async def batch_of(session: AsyncSession, job: Job) -> list[int]:
    """The pending jobs that start with ``job``: the rest of its run's batch, or itself."""
    if job.run_id is None:
        return [job.id]
    statement = (
        select(Job.id)
        .where(Job.run_id == job.run_id, Job.batch == job.batch, Job.status == JobStatus.pending)
        .order_by(Job.id)
    )
    return list((await session.scalars(statement)).all())


def _leads() -> ColumnElement[bool]:
    """Pending jobs that start a batch now: a job of its own, or the first job of its
    run's first batch with jobs still to finish."""
    other = aliased(Job)
    ahead = exists().where(
        other.run_id == Job.run_id,
        other.status.in_((JobStatus.pending, JobStatus.running)),
        or_(other.batch < Job.batch, and_(other.batch == Job.batch, other.id < Job.id)),
    )
    return and_(Job.status == JobStatus.pending, or_(Job.run_id.is_(None), ~ahead))


async def lead_of_run(session: AsyncSession, run_id: int) -> int | None:
    """The pending job that starts the run's next batch now, if any."""
    statement = select(Job.id).where(Job.run_id == run_id, _leads()).limit(1)
    found: int | None = await session.scalar(statement)
    return found


async def is_lead(session: AsyncSession, job_id: int) -> bool:
    return bool(await session.scalar(select(Job.id).where(Job.id == job_id, _leads())))


async def queued_before(
    session: AsyncSession, host_ids: list[int], first: int
) -> tuple[int, str] | None:
    """(job id, hostname) of the oldest pending job on one of these hosts launched before
    job ``first``: it takes them first."""
    statement = (
        select(Job.id, Host.hostname)
        .join(Host, Host.id == Job.host_id)
        .where(Job.status == JobStatus.pending, Job.host_id.in_(host_ids), Job.id < first)
        .order_by(Job.id)
        .limit(1)
    )
    found = (await session.execute(statement)).first()
    return None if found is None else (found[0], found[1])


async def lock_hosts(session: AsyncSession, holders: dict[int, int]) -> None:
    """Take each host (key) for its job (value), dropping locks whose job no longer runs
    (a job's end gives its locks back; this covers one that ended without it). Raises
    IntegrityError when a running job holds one of them. Rows are touched by primary key
    in host order, so two workers taking overlapping hosts never deadlock on InnoDB's
    gap locks: one waits for the other, then finds the host taken."""
    hosts = sorted(holders)
    stale = select(HostLock.host_id).where(
        HostLock.host_id.in_(hosts),
        HostLock.job_id.not_in(select(Job.id).where(Job.status == JobStatus.running)),
    )
    for host in list(await session.scalars(stale)):
        await session.execute(
            delete(HostLock)
            .where(HostLock.host_id == host)
            .execution_options(synchronize_session=False)
        )
    rows = [{"host_id": host, "job_id": holders[host]} for host in hosts]
    await session.execute(insert(HostLock), rows)


async def holder(session: AsyncSession, host_ids: list[int]) -> tuple[int, str] | None:
    """(job id, hostname) of a job holding one of these hosts."""
    statement = (
        select(HostLock.job_id, Host.hostname)
        .join(Host, Host.id == HostLock.host_id)
        .where(HostLock.host_id.in_(host_ids))
        .limit(1)
    )
    found = (await session.execute(statement)).first()
    return None if found is None else (found[0], found[1])


async def unlock(session: AsyncSession, job_id: int) -> None:
    await session.execute(
        delete(HostLock)
        .where(HostLock.job_id == job_id)
        .execution_options(synchronize_session=False)
    )


async def runs_of(session: AsyncSession, job_ids: list[int]) -> set[int]:
    statement = select(Job.run_id).where(Job.id.in_(job_ids), Job.run_id.is_not(None))
    return {run_id for run_id in await session.scalars(statement) if run_id is not None}


async def set_waiting(session: AsyncSession, job_ids: list[int], reason: str) -> None:
    await session.execute(
        update(Job)
        .where(Job.id.in_(job_ids), Job.status == JobStatus.pending)
        .values(waiting_reason=reason[:500])
        .execution_options(synchronize_session=False)
    )


async def failed_before(session: AsyncSession, job: Job) -> bool:
    """Whether the job of its own before this one on its host, with its playbook, that
    ended (succeeded or failed) had failed: this one's success is a recovery."""
    statement = (
        select(Job.status)
        .where(
            Job.host_id == job.host_id,
            Job.playbook_id == job.playbook_id,
            Job.id < job.id,
            Job.run_id.is_(None),
            Job.status.in_((JobStatus.success, JobStatus.failed)),
        )
        .order_by(Job.id.desc())
        .limit(1)
    )
    return await session.scalar(statement) is JobStatus.failed


async def last_lines(session: AsyncSession, job_id: int, count: int) -> list[str]:
    statement = (
        select(_logs.c.content)
        .where(_logs.c.job_id == job_id)
        .order_by(_logs.c.line_number.desc())
        .limit(count)
    )
    return list(reversed((await session.scalars(statement)).all()))


async def pending(session: AsyncSession, limit: int) -> list[int]:
    """The oldest pending jobs that start a batch (the (status, created_at) index)."""
    statement = select(Job.id).where(_leads()).order_by(Job.created_at, Job.id).limit(limit)
    return list((await session.scalars(statement)).all())


async def undispatched(
    session: AsyncSession, before: datetime, limit: int
) -> list[tuple[int, str]]:
    """(id, task id) of pending Celery jobs created before ``before`` that start a batch
    and whose task never reached the broker."""
    statement = (
        select(Job.id, Job.celery_task_id)
        .where(
            _leads(),
            Job.created_at < before,
            Job.celery_task_id.is_not(None),
            Job.dispatched_at.is_(None),
        )
        .order_by(Job.created_at, Job.id)
        .limit(limit)
    )
    return [(job_id, str(task)) for job_id, task in await session.execute(statement)]


async def mark_dispatched(session: AsyncSession, job_id: int, when: datetime | None) -> None:
    """Note when the job's task reached the broker; None: send it again (its hosts were
    busy when a worker took it)."""
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


async def beat(session: AsyncSession, job_ids: list[int], at: datetime) -> bool:
    """Stamp the heartbeat of the jobs of a batch; False once any of them is no longer
    running (cancelled or reaped: the batch stops)."""
    statement = (
        update(Job)
        .where(Job.id.in_(job_ids), Job.status == JobStatus.running)
        .values(heartbeat_at=at)
        .execution_options(synchronize_session=False)
    )
    stamped: int = (await session.execute(statement)).rowcount  # type: ignore[attr-defined]
    return stamped == len(job_ids)


async def all_running(session: AsyncSession, job_ids: list[int]) -> bool:
    statement = select(func.count()).where(Job.id.in_(job_ids), Job.status == JobStatus.running)
    return await session.scalar(statement) == len(job_ids)


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
