"""Firing on a clock the test controls: each due time one run as the schedule's owner,
missed times after downtime skipped or caught up once, overlap skipped, queued or
allowed, refused launches recorded, and two firers racing over the same database."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.db.engine import create_engine
from opsledger.db.session import session_factory, unit_of_work
from opsledger.jobs.models import JobStatus
from opsledger.models import AuditLog, Run, Schedule, ScheduleFire
from opsledger.schedules import service
from opsledger.schedules.firing import PERIODIC, Fired, fire_due
from opsledger.schedules.schemas import ScheduleCreate
from opsledger.security.context import cli_context
from opsledger.users.models import UserRole
from tests import factories as f
from tests.api import ENCRYPTION_KEY, JWT_SECRET, Person, api_settings, make_person
from tests.conftest import settings_for
from tests.e2e.cli import clean_env
from tests.schedules.conftest import Target, make_target, schedule_body

SETTINGS = api_settings()
HOUR = timedelta(hours=1)


async def create(
    client: httpx.AsyncClient, person: Person, template_id: int, **fields: Any
) -> tuple[int, datetime]:
    body = schedule_body(template_id, cron="0 * * * *", timezone="UTC") | fields
    response = await client.post("/schedules", json=body, headers=person.headers)
    assert response.status_code == 201, response.text
    return response.json()["id"], datetime.fromisoformat(response.json()["next_run_at"])


async def fire(engine: AsyncEngine, schedule_id: int, now: datetime) -> list[Fired]:
    return [f for f in await fire_due(engine, SETTINGS, now) if f.schedule_id == schedule_id]


async def row(engine: AsyncEngine, schedule_id: int) -> Schedule:
    async with unit_of_work(session_factory(engine)) as session:
        found = await session.get(Schedule, schedule_id)
        assert found is not None
        return found


async def history(client: httpx.AsyncClient, person: Person, schedule_id: int) -> list[dict]:
    response = await client.get(f"/schedules/{schedule_id}/fires", headers=person.headers)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def end_run(engine: AsyncEngine, run_id: int) -> None:
    async with unit_of_work(session_factory(engine)) as session:
        await session.execute(update(Run).where(Run.id == run_id).values(status=JobStatus.success))


async def test_a_due_time_launches_one_run_as_the_owner_with_its_values(
    client: httpx.AsyncClient, operator: Person, engine: AsyncEngine, target: Target
) -> None:
    schedule_id, due = await create(
        client,
        operator,
        target.template_id,
        prompts={"version": "1.0", "token": "tok-1234"},
        check=True,
    )

    early = await fire(engine, schedule_id, due - timedelta(seconds=1))
    fired = await fire(engine, schedule_id, due)
    again = await fire(engine, schedule_id, due + timedelta(seconds=30))

    assert early == []
    assert [(f.outcome, f.due_at) for f in fired] == [("launched", due)]
    assert again == []
    schedule = await row(engine, schedule_id)
    assert schedule.next_run_at == due + HOUR
    assert schedule.last_run_id == fired[0].run_id
    assert schedule.last_run_at == due
    run = await client.get(f"/runs/{fired[0].run_id}", headers=operator.headers)
    assert run.json()["template_id"] == target.template_id
    assert run.json()["user_id"] == operator.id
    assert run.json()["options"]["check"] is True
    assert run.json()["extra_vars"] == {"version": "1.0", "token": "********"}
    assert run.json()["hosts"] == len(target.host_ids)
    async with unit_of_work(session_factory(engine)) as session:
        launched = await session.get(Run, fired[0].run_id)
        assert launched is not None
        assert launched.secret_vars == '{"token": "tok-1234"}'
    [record] = await history(client, operator, schedule_id)
    assert (record["outcome"], record["run_id"]) == ("launched", fired[0].run_id)
    async with engine.connect() as connection:
        audited = await connection.execute(
            select(AuditLog.user_name, AuditLog.before, AuditLog.after).where(
                AuditLog.resource_type == "schedule",
                AuditLog.resource_id == schedule_id,
                AuditLog.action == "fire",
            )
        )
    [(actor, before, after)] = audited.all()  # one row for the whole fire
    assert actor.startswith("scheduler@")
    assert datetime.fromisoformat(before["next_run_at"]) == due
    assert before["last_run_id"] is None
    assert after["last_run_id"] == fired[0].run_id
    assert datetime.fromisoformat(after["next_run_at"]) == due + HOUR


async def test_missed_times_after_downtime_are_skipped_and_recorded(
    client: httpx.AsyncClient, operator: Person, engine: AsyncEngine, target: Target
) -> None:
    schedule_id, due = await create(client, operator, target.template_id)

    fired = await fire(engine, schedule_id, due + 3 * HOUR + timedelta(minutes=10))

    assert [(f.outcome, f.run_id) for f in fired] == [("skipped", None)]
    assert (await row(engine, schedule_id)).next_run_at == due + 4 * HOUR
    [record] = await history(client, operator, schedule_id)
    assert record["reason"].startswith("missed 4 times from ")


async def test_run_once_makes_one_catch_up_run_never_a_burst(
    client: httpx.AsyncClient, operator: Person, engine: AsyncEngine, target: Target
) -> None:
    schedule_id, due = await create(client, operator, target.template_id, missed="run_once")
    later = due + 5 * HOUR + timedelta(minutes=1)

    fired = await fire(engine, schedule_id, later)
    fired += await fire(engine, schedule_id, later + timedelta(seconds=5))

    assert [f.outcome for f in fired] == ["launched"]
    [record] = await history(client, operator, schedule_id)
    assert record["reason"].startswith("one catch-up run for 6 times")
    assert (await row(engine, schedule_id)).next_run_at == due + 6 * HOUR


async def test_overlap_skip_records_the_run_still_going(
    client: httpx.AsyncClient, operator: Person, engine: AsyncEngine, target: Target
) -> None:
    schedule_id, due = await create(client, operator, target.template_id)

    [first] = await fire(engine, schedule_id, due)
    [second] = await fire(engine, schedule_id, due + HOUR)
    await end_run(engine, first.run_id or 0)
    [third] = await fire(engine, schedule_id, due + 2 * HOUR)

    assert second.outcome == "skipped"
    assert third.outcome == "launched"
    reasons = [r["reason"] for r in await history(client, operator, schedule_id)]
    assert reasons[1] == f"run {first.run_id} has not ended"


async def test_overlap_queue_keeps_at_most_one_waiting_and_launches_it_when_the_run_ends(
    client: httpx.AsyncClient, operator: Person, engine: AsyncEngine, target: Target
) -> None:
    schedule_id, due = await create(client, operator, target.template_id, overlap="queue")

    [first] = await fire(engine, schedule_id, due)
    [queued] = await fire(engine, schedule_id, due + HOUR)
    [full] = await fire(engine, schedule_id, due + 2 * HOUR)
    waiting = await fire(engine, schedule_id, due + 2 * HOUR + timedelta(minutes=1))
    await end_run(engine, first.run_id or 0)
    [released] = await fire(engine, schedule_id, due + 2 * HOUR + timedelta(minutes=2))

    assert (queued.outcome, full.outcome, waiting) == ("queued", "skipped", [])
    assert (released.outcome, released.due_at) == ("launched", due + HOUR)
    assert released.run_id not in (None, first.run_id)
    schedule = await row(engine, schedule_id)
    assert schedule.queued_at is None
    assert schedule.last_run_id == released.run_id


async def test_overlap_allow_runs_beside_the_previous_run(
    client: httpx.AsyncClient, operator: Person, engine: AsyncEngine, target: Target
) -> None:
    schedule_id, due = await create(client, operator, target.template_id, overlap="allow")

    fired = await fire(engine, schedule_id, due)
    fired += await fire(engine, schedule_id, due + HOUR)

    assert [f.outcome for f in fired] == ["launched", "launched"]


async def test_a_launch_the_template_refuses_is_recorded_and_the_schedule_moves_on(
    client: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    target = await make_target(engine, hosts=0)
    schedule_id, due = await create(client, operator, target.template_id)

    [fired] = await fire(engine, schedule_id, due)

    assert (fired.outcome, fired.run_id) == ("failed", None)
    [record] = await history(client, operator, schedule_id)
    assert record["reason"] == "the selector matches no host in service"
    assert (await row(engine, schedule_id)).next_run_at == due + HOUR


async def test_a_schedule_of_a_deactivated_owner_records_a_failure_instead_of_a_run(
    client: httpx.AsyncClient, admin: Person, engine: AsyncEngine, target: Target
) -> None:
    owner = await make_person(engine, UserRole.operator)
    schedule_id, due = await create(client, owner, target.template_id)
    await client.patch(f"/users/{owner.id}", json={"is_active": False}, headers=admin.headers)

    [fired] = await fire(engine, schedule_id, due)

    assert (fired.outcome, fired.run_id) == ("failed", None)
    [record] = await history(client, admin, schedule_id)
    assert record["reason"] == f"its owner {owner.username} is deactivated"


async def test_a_schedule_of_an_owner_who_may_no_longer_launch_records_a_failure(
    client: httpx.AsyncClient, admin: Person, engine: AsyncEngine, target: Target
) -> None:
    owner = await make_person(engine, UserRole.operator)
    schedule_id, due = await create(client, owner, target.template_id)
    demoted = await client.patch(
        f"/users/{owner.id}", json={"role": "viewer"}, headers=admin.headers
    )
    assert demoted.status_code == 200, demoted.text

    [fired] = await fire(engine, schedule_id, due)

    assert (fired.outcome, fired.run_id) == ("failed", None)
    [record] = await history(client, admin, schedule_id)
    assert record["reason"] == f"its owner {owner.username} may not launch runs"


async def test_a_disabled_schedule_does_not_fire(
    client: httpx.AsyncClient, operator: Person, engine: AsyncEngine, target: Target
) -> None:
    schedule_id, due = await create(client, operator, target.template_id)
    await client.post(f"/schedules/{schedule_id}/disable", headers=operator.headers)

    assert await fire(engine, schedule_id, due + HOUR) == []
    assert await history(client, operator, schedule_id) == []


async def many(engine: AsyncEngine, count: int) -> tuple[list[int], datetime]:
    """``count`` hourly schedules of one owner in a database of the test's own (a shared
    one would show other tests a crowd of them), and the time all are due."""
    target = await make_target(engine)
    async with unit_of_work(session_factory(engine)) as session:
        owner = await f.make_user(session, role=UserRole.operator)
        ctx = cli_context(session, SETTINGS)
        made = [
            await service.create(
                ctx,
                ScheduleCreate.model_validate(
                    schedule_body(target.template_id, cron="0 * * * *", timezone="UTC")
                ),
                owner_id=owner.id,
            )
            for _ in range(count)
        ]
    return [s.id for s in made], max(s.next_run_at for s in made if s.next_run_at is not None)


async def test_two_firers_racing_over_one_database_fire_each_due_time_once(
    scratch_engine: AsyncEngine,
) -> None:
    engine = scratch_engine
    ids, now = await many(engine, 12)
    other = create_engine(settings_for(engine.url.render_as_string(hide_password=False)))
    try:
        results = await asyncio.gather(
            fire_due(engine, SETTINGS, now), fire_due(other, SETTINGS, now)
        )
    finally:
        await other.dispose()

    ours = [[f.schedule_id for f in fired if f.schedule_id in ids] for fired in results]
    assert sorted(ours[0] + ours[1]) == sorted(ids)
    async with engine.connect() as connection:
        fires = await connection.execute(
            select(ScheduleFire.schedule_id, func.count())
            .where(ScheduleFire.schedule_id.in_(ids))
            .group_by(ScheduleFire.schedule_id)
        )
        runs = await connection.scalar(
            select(func.count())
            .select_from(Schedule)
            .where(Schedule.id.in_(ids), Schedule.last_run_id.is_not(None))
        )
        launched = await connection.scalar(
            select(func.count())
            .select_from(Run)
            .where(Run.id.in_(select(ScheduleFire.run_id).where(ScheduleFire.schedule_id.in_(ids))))
        )
    assert dict(fires.all()) == {schedule_id: 1 for schedule_id in ids}
    assert runs == len(ids)
    assert launched == len(ids)


# One firer in a process of its own, as a server process's loop runs it: it starts firing
# at the same wall-clock moment as the other, with the clock the test gave it.
FIRER = """
import asyncio, json, sys, time
import opsledger.models  # every mapper, as the server has them
from datetime import datetime
from opsledger.commands import install_keys, load_settings
from opsledger.db.engine import create_engine
from opsledger.users.models import UserRole
from opsledger.schedules.firing import fire_due

async def main() -> None:
    settings = load_settings()
    install_keys(settings)
    engine = create_engine(settings)
    time.sleep(max(0.0, float(sys.argv[1]) - time.time()))
    fired = await fire_due(engine, settings, datetime.fromisoformat(sys.argv[2]))
    await engine.dispose()
    print(json.dumps([f.schedule_id for f in fired]))

asyncio.run(main())
"""


async def test_two_server_processes_fire_each_due_time_once(
    scratch_engine: AsyncEngine, tmp_path: Path
) -> None:
    engine = scratch_engine
    ids, due = await many(engine, 30)
    now = due.isoformat()
    env = clean_env(
        database_url=engine.url.render_as_string(hide_password=False),
        encryption_keys=ENCRYPTION_KEY,
        jwt_secret=JWT_SECRET,
    )
    start = str(time.time() + 4)
    firers = [
        subprocess.Popen(
            [sys.executable, "-c", FIRER, start, now],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [await asyncio.to_thread(firer.communicate, timeout=120) for firer in firers]

    assert [firer.returncode for firer in firers] == [0, 0], [err for _, err in outputs]
    fired = [[i for i in json.loads(out) if i in ids] for out, _ in outputs]
    assert sorted(fired[0] + fired[1]) == sorted(ids)
    async with engine.connect() as connection:
        fires = await connection.execute(
            select(ScheduleFire.schedule_id, func.count(ScheduleFire.run_id))
            .where(ScheduleFire.schedule_id.in_(ids))
            .group_by(ScheduleFire.schedule_id)
        )
    assert dict(fires.all()) == {schedule_id: 1 for schedule_id in ids}


async def test_the_loop_each_server_process_repeats_fires_what_is_due_by_the_clock(
    client: httpx.AsyncClient, operator: Person, engine: AsyncEngine, target: Target
) -> None:
    at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    schedule_id, due = await create(
        client, operator, target.template_id, cron=None, run_at=at.isoformat()
    )
    await asyncio.sleep((due - datetime.now(UTC)).total_seconds() + 0.1)

    fired = await PERIODIC.run(engine, SETTINGS)

    assert PERIODIC.every(SETTINGS) == SETTINGS.schedule_poll_seconds
    assert isinstance(fired, list)
    assert [(f.outcome, f.due_at) for f in fired if f.schedule_id == schedule_id] == [
        ("launched", at)
    ]
    assert (await row(engine, schedule_id)).next_run_at is None
