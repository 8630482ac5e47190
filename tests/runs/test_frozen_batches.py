"""A freeze window that opens while a run goes on: the run stops before the next batch it
holds (the jobs left cancelled with the window's name), unless an admin launched the run
past the windows, whose reason then carries it on (audited again)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.config import Settings
from opsledger.hosts.schemas import HostSelector
from opsledger.jobs.models import Job, JobStatus
from opsledger.models import AuditLog
from opsledger.runs import service as runs
from opsledger.runs.models import Run
from opsledger.security.context import Actor, AuthMethod, system_context
from opsledger.users.models import UserRole
from tests import factories as f


async def two_batches(session: AsyncSession, environment: str, **fields: object) -> Run:
    """A running run whose first batch succeeded and whose second waits."""
    run = await f.make_run(session, status=JobStatus.running, batches=2, **fields)
    for batch in (0, 1):
        host = await f.make_host(session, environment=environment)
        status = JobStatus.success if batch == 0 else JobStatus.pending
        await f.make_job(session, run_id=run.id, batch=batch, host_id=host.id, status=status)
    return run


async def freeze(session: AsyncSession, environment: str) -> None:
    now = datetime.now(UTC)
    await f.make_window(
        session, environments=[environment],
        starts_at=now - timedelta(minutes=1), ends_at=now + timedelta(hours=1),
    )  # fmt: skip


async def progress(session: AsyncSession, run: Run) -> int | None:
    return await runs.progress(system_context(session, Settings(), "runner@test"), run.id)


async def test_a_window_that_opened_since_cancels_the_batches_it_holds(
    session: AsyncSession,
) -> None:
    environment = f.unique("env")
    run = await two_batches(session, environment)
    await freeze(session, environment)

    lead = await progress(session, run)

    await session.refresh(run)
    jobs = (await session.scalars(select(Job).where(Job.run_id == run.id).order_by(Job.id))).all()
    assert lead is None
    assert run.status is JobStatus.cancelled
    assert run.reason is not None
    assert run.reason.startswith("stopped before batch 1: freeze window")
    assert [job.status for job in jobs] == [JobStatus.success, JobStatus.cancelled]
    assert jobs[1].error_message == run.reason


async def test_a_run_an_admin_launched_past_the_windows_goes_on_and_says_so_again(
    session: AsyncSession,
) -> None:
    environment = f.unique("env")
    run = await two_batches(session, environment, override_reason="CHG-7 hotfix")
    await freeze(session, environment)

    lead = await progress(session, run)
    await session.commit()  # audit rows join the chain as their transaction commits

    waiting = await session.scalar(select(Job.id).where(Job.run_id == run.id, Job.batch == 1))
    assert lead == waiting
    overrides = (
        await session.scalars(
            select(AuditLog.after).where(AuditLog.action == "override").order_by(AuditLog.id)
        )
    ).all()
    assert {"reason": "CHG-7 hotfix"}.items() <= overrides[-1].items()


@pytest.mark.parametrize("frozen", [False, True])
async def test_the_override_a_launch_gave_is_kept_only_when_it_let_the_launch_through(
    session: AsyncSession, frozen: bool
) -> None:
    """Else anyone could carry a reason nobody checked (nothing was frozen at launch, so
    no admin was needed) past a window that opens later."""
    environment = f.unique("env")
    host = await f.make_host(session, environment=environment)
    playbook = await f.make_playbook(session)
    if frozen:
        await freeze(session, environment)
    owner = await f.make_user(session)
    admin = Actor(id=owner.id, username="admin", role=UserRole.admin, method=AuthMethod.token)
    ctx = replace(system_context(session, Settings(), "test"), actor=admin)

    run = await runs.launch(
        ctx, playbook.id, HostSelector(host_ids=[host.id]), None, {}, override_reason="CHG-8"
    )

    assert run.override_reason == ("CHG-8" if frozen else None)
