"""A run whose worker died mid-batch: the reaper fails each host's job on its own, and
the run moves on from there as if the batch had failed (stops, cancels what is left,
opens its one ticket)."""

from __future__ import annotations

from sqlalchemy import select, update

from opsledger.db.base import utcnow
from opsledger.db.session import session_factory, unit_of_work
from opsledger.models import Job, Ticket
from opsledger.runs.models import Run
from tests.runs.conftest import Fleet


async def test_a_dead_workers_batch_is_reaped_host_by_host_and_the_run_ends(
    fleet: Fleet,
) -> None:
    lab = fleet.lab
    await lab.pool.stop()  # this test plays the dead worker itself
    playbook = await lab.playbook("    - command: 'true'\n")
    await fleet.hosts("lost", "lost", "later")
    launched = await fleet.launch(playbook, batch_size=2)
    long_ago = utcnow().replace(year=2000)
    async with unit_of_work(session_factory(lab.engine)) as session:
        await session.execute(
            update(Job)
            .where(Job.run_id == launched["id"], Job.batch == 0)
            .values(status="running", started_at=long_ago, heartbeat_at=long_ago)
        )
        await session.execute(update(Run).where(Run.id == launched["id"]).values(status="running"))

    reaped = await lab.pool.reap()
    run = await fleet.run(launched["id"])
    hosts = await fleet.page(f"/runs/{launched['id']}/hosts")

    assert sorted(reaped) == sorted(host["job_id"] for host in hosts[:2])
    assert [host["status"] for host in hosts] == ["failed", "failed", "cancelled"]
    assert all("stopped responding" in host["error_message"] for host in hosts[:2])
    assert run["status"] == "failed"
    assert run["reason"].startswith("stopped before batch 1: 2 of 3 hosts failed")
    async with unit_of_work(session_factory(lab.engine)) as session:
        tickets = list(
            await session.scalars(
                select(Ticket).where(Ticket.job_id.in_([host["job_id"] for host in hosts]))
            )
        )
    assert len(tickets) == 1
    assert tickets[0].job_id == hosts[0]["job_id"]
