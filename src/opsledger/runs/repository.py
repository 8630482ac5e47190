"""The only SQL for runs: the run, its jobs by host, its task matrix, its tallies."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from opsledger.db import queries
from opsledger.jobs.models import Job, JobStatus, JobTask
from opsledger.jobs.plans import RECAP_FIELDS
from opsledger.kit.pagination import Rows
from opsledger.runs.models import Run


async def get(session: AsyncSession, run_id: int) -> Run | None:
    return await session.get(Run, run_id)


async def add(session: AsyncSession, run: Run) -> Run:
    session.add(run)
    await session.flush()
    return run


async def page(
    session: AsyncSession,
    filters: dict[str, Any],
    limit: int,
    after: int | None,
    *,
    newest_first: bool = False,
) -> Rows[Run]:
    return await queries.page(session, Run, filters, limit, after, newest_first=newest_first)


async def failed_before(session: AsyncSession, run: Run) -> bool:
    """Whether the run of its template before this one that ended (succeeded or failed)
    had failed: this one's success is a recovery. A run of no template has none."""
    if run.template_id is None:
        return False
    statement = (
        select(Run.status)
        .where(
            Run.template_id == run.template_id,
            Run.id < run.id,
            Run.status.in_((JobStatus.success, JobStatus.failed)),
        )
        .order_by(Run.id.desc())
        .limit(1)
    )
    return await session.scalar(statement) is JobStatus.failed


async def jobs(session: AsyncSession, run_id: int, status: JobStatus | None = None) -> list[Job]:
    """The run's jobs in launch order, each with its host."""
    statement = (
        select(Job).where(Job.run_id == run_id).order_by(Job.id).options(selectinload(Job.host))
    )
    if status is not None:
        statement = statement.where(Job.status == status)
    return list((await session.scalars(statement)).all())


async def hosts_page(
    session: AsyncSession, run_id: int, limit: int, after: int | None
) -> Rows[Job]:
    statement = select(Job).where(Job.run_id == run_id).options(selectinload(Job.host))
    return await queries.keyset_page(session, statement, Job.id, limit, after)


async def tasks_page(
    session: AsyncSession, run_id: int, limit: int, after: int | None
) -> Rows[JobTask]:
    statement = (
        select(JobTask)
        .join(Job, Job.id == JobTask.job_id)
        .where(Job.run_id == run_id)
        .options(selectinload(JobTask.job))
    )
    return await queries.keyset_page(session, statement, JobTask.id, limit, after)


async def tasks_of(session: AsyncSession, job_ids: list[int]) -> list[JobTask]:
    """The task results of these jobs, each job's in task order."""
    statement = (
        select(JobTask)
        .where(JobTask.job_id.in_(job_ids))
        .order_by(JobTask.job_id, JobTask.position)
    )
    return list(await session.scalars(statement))


async def tallies(session: AsyncSession, run_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Per run: its recaps summed, and its jobs counted by status (failed ones that were
    unreachable apart), in one statement for any number of runs."""
    unreachable = (Job.status == JobStatus.failed) & (func.coalesce(Job.unreachable, 0) > 0)
    result_of = (
        select(
            Job.run_id,
            Job.status,
            unreachable.label("unreachable_host"),
            func.count().label("hosts"),
            *(func.coalesce(func.sum(getattr(Job, name)), 0).label(name) for name in RECAP_FIELDS),
        )
        .where(Job.run_id.in_(run_ids))
        .group_by(Job.run_id, Job.status, unreachable)
    )
    found: dict[int, dict[str, Any]] = {run_id: {"hosts": {}} for run_id in run_ids}
    for row in await session.execute(result_of):
        tally = found[row.run_id]
        result = "unreachable" if row.unreachable_host else str(row.status)
        tally["hosts"][result] = tally["hosts"].get(result, 0) + row.hosts
        for name in RECAP_FIELDS:
            tally[name] = tally.get(name, 0) + int(getattr(row, name))
    return found
