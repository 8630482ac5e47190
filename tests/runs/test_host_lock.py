"""One playbook per host at a time, decided by the database: workers racing to start
jobs whose hosts overlap never both get a host, on every backend."""

from __future__ import annotations

import asyncio

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.db.session import session_factory, unit_of_work
from opsledger.jobs import lifecycle
from opsledger.jobs.models import HostLock, JobStatus
from opsledger.jobs.plans import Plan
from opsledger.security.context import system_context
from opsledger.worker import execution
from tests import factories as f
from tests.api import api_settings

SETTINGS = api_settings()


async def claim(engine: AsyncEngine, job_id: int, worker: str) -> Plan | None:
    claimed = await execution.claim(engine, SETTINGS, job_id, worker)
    return None if claimed is None else claimed.plan


async def test_racing_workers_start_each_host_once(engine: AsyncEngine) -> None:
    async with unit_of_work(session_factory(engine)) as session:
        playbook = await f.make_playbook(session)
        user = await f.make_user(session)
        one, two = [await f.make_host(session, ssh_key_path="/k") for _ in range(2)]
        first, second, other = [
            await f.make_job(session, playbook_id=playbook.id, host_id=host.id, user_id=user.id)
            for host in (one, one, two)
        ]
        ids = (first.id, second.id, other.id, one.id, two.id)
    first_id, second_id, other_id, one_id, two_id = ids

    plans = await asyncio.gather(
        *(
            claim(engine, job, f"w{n}")
            for n, job in enumerate((second_id, first_id, other_id, first_id))
        )
    )
    async with unit_of_work(session_factory(engine)) as session:
        locks = dict((await session.execute(
            select(HostLock.host_id, HostLock.job_id).where(HostLock.host_id.in_((one_id, two_id)))
        )).all())  # fmt: skip
        waiting = await lifecycle.status(session, second_id)

    started = sorted(plan.lead.job_id for plan in plans if plan is not None)
    assert started == [first_id, other_id]  # the first job once, never the second
    assert locks == {one_id: first_id, two_id: other_id}
    assert waiting is JobStatus.pending

    async with unit_of_work(session_factory(engine)) as session:
        ctx = system_context(session, SETTINGS, "w")
        await lifecycle.end(ctx, first_id, JobStatus.success, None, "finish")
    after = await claim(engine, second_id, "w")
    assert after is not None
    assert after.lead.job_id == second_id
