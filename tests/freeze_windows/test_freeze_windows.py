"""Freeze windows: admins manage them, everyone sees what is open (at an instant the test
names), and every way of launching is held back by them (409 naming the window and its
end) unless an admin gives a reason, which is audited; schedule fires are skipped."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.db.session import session_factory, unit_of_work
from opsledger.freeze_windows.models import FreezeWindow
from opsledger.freeze_windows.service import opening
from opsledger.models import AuditLog, Run, ScheduleFire
from opsledger.schedules.firing import fire_due
from tests import factories as f
from tests.api import Person, api_settings, audit_trail

SETTINGS = api_settings()
NOW = datetime.now(UTC).replace(microsecond=0)


@dataclass(frozen=True)
class Estate:
    """Two hosts in an environment of their own and one elsewhere, a template over the
    first two, and the playbook to launch ad hoc."""

    environment: str
    frozen_ids: list[int]
    other_id: int
    template_id: int
    playbook_id: int


@pytest.fixture
async def estate(engine: AsyncEngine) -> Estate:
    environment = f.unique("env")
    async with unit_of_work(session_factory(engine)) as session:
        playbook = await f.make_playbook(session)
        frozen = [await f.make_host(session, environment=environment) for _ in range(2)]
        other = await f.make_host(session, environment=f.unique("env"))
        template = await f.make_template(
            session, playbook_id=playbook.id, selector={"environment": environment}
        )
        return Estate(environment, [h.id for h in frozen], other.id, template.id, playbook.id)


async def make_window(client: httpx.AsyncClient, admin: Person, **fields: Any) -> dict[str, Any]:
    body = {"name": f.unique("freeze")} | fields
    response = await client.post("/freeze-windows", json=body, headers=admin.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def around_now(**fields: Any) -> dict[str, Any]:
    return {
        "starts_at": (NOW - timedelta(hours=1)).isoformat(),
        "ends_at": (NOW + timedelta(hours=1)).isoformat(),
    } | fields


async def test_admins_manage_windows_everyone_reads_them_and_each_change_is_audited(
    client: httpx.AsyncClient, engine: AsyncEngine, admin: Person, operator: Person, viewer: Person
) -> None:
    body = {"name": f.unique("freeze"), "cron": "0 22 * * 5", "duration_minutes": 120,
            "timezone": "Europe/Berlin", "environments": ["production"]}  # fmt: skip
    refused = await client.post("/freeze-windows", json=body, headers=operator.headers)
    created = await client.post("/freeze-windows", json=body, headers=admin.headers)
    again = await client.post("/freeze-windows", json=body, headers=admin.headers)

    assert refused.status_code == 403, refused.text
    assert created.status_code == 201, created.text
    assert again.status_code == 409, again.text
    assert await audit_trail(engine, created) == [("create", "freeze_window")]
    window = created.json()
    assert window["cron"] == "0 22 * * 5"
    assert window["starts_at"] is None
    read = await client.get(f"/freeze-windows/{window['id']}", headers=viewer.headers)
    assert read.status_code == 200
    assert read.json() == window
    listed = await client.get(
        "/freeze-windows", params={"name": body["name"]}, headers=viewer.headers
    )
    assert [item["id"] for item in listed.json()["items"]] == [window["id"]]

    moved = await client.patch(
        f"/freeze-windows/{window['id']}", json={"duration_minutes": 60}, headers=admin.headers
    )
    assert moved.status_code == 200
    assert moved.json()["duration_minutes"] == 60
    assert await audit_trail(engine, moved) == [("update", "freeze_window")]
    broken = await client.patch(
        f"/freeze-windows/{window['id']}", json={"starts_at": NOW.isoformat()},
        headers=admin.headers,
    )  # fmt: skip
    assert broken.status_code == 422, broken.text
    gone = await client.delete(f"/freeze-windows/{window['id']}", headers=admin.headers)
    assert gone.status_code == 204
    assert await audit_trail(engine, gone) == [("delete", "freeze_window")]


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({}, "starts_at and ends_at, or cron"),
        (around_now(cron="0 * * * *", duration_minutes=5), "starts_at and ends_at, or cron"),
        ({"starts_at": NOW.isoformat(), "ends_at": NOW.isoformat()}, "before ends_at"),
        ({"cron": "0 * * * *"}, "needs cron and duration_minutes"),
        ({"cron": "61 * * * *", "duration_minutes": 5}, "not a cron expression"),
        ({"cron": "0 * * * *", "duration_minutes": 5, "timezone": "Mars/Olympus"}, "IANA"),
        (around_now(environments=["a"], host_role_ids=[1]), "not both"),
        (around_now(host_role_ids=[2_000_000_000]), "no host role has the id"),
    ],
)
async def test_a_window_that_names_no_time_or_two_scopes_is_refused(
    client: httpx.AsyncClient, admin: Person, fields: dict[str, Any], named: str
) -> None:
    body = {"name": f.unique("freeze")} | fields
    response = await client.post("/freeze-windows", json=body, headers=admin.headers)
    assert response.status_code == 422, response.text
    assert named in response.text


async def test_what_is_open_at_an_instant_counts_a_recurring_window_in_its_zone(
    client: httpx.AsyncClient, admin: Person, viewer: Person
) -> None:
    # Fridays 22:00 in Berlin for two hours: 21:00-23:00 UTC in winter, 20:00-22:00 in summer.
    # In an environment of its own: on a Friday evening it would freeze every other test.
    window = await make_window(
        client, admin, cron="0 22 * * 5", duration_minutes=120, timezone="Europe/Berlin",
        environments=[f.unique("env")],
    )  # fmt: skip

    async def open_at(at: str) -> list[dict[str, Any]]:
        response = await client.get(
            "/freeze-windows/active", params={"at": at}, headers=viewer.headers
        )
        assert response.status_code == 200, response.text
        return [item for item in response.json()["items"] if item["id"] == window["id"]]

    assert await open_at("2031-01-03T20:59:00Z") == []
    (winter,) = await open_at("2031-01-03T21:00:00Z")
    assert winter["active_from"] == "2031-01-03T21:00:00Z"
    assert winter["active_until"] == "2031-01-03T23:00:00Z"
    assert await open_at("2031-01-03T23:00:00Z") == []
    (summer,) = await open_at("2031-07-04T21:59:59Z")
    assert summer["active_until"] == "2031-07-04T22:00:00Z"


def test_times_of_a_window_that_overlap_make_one_opening_until_the_last_ends() -> None:
    hourly = FreezeWindow(cron="0 * * * *", duration_minutes=90, timezone="UTC")
    at = datetime(2031, 3, 1, 10, 45, tzinfo=UTC)
    found = opening(hourly, at)
    assert found is not None
    # 09:00 (until 10:30) is over; 10:00 runs to 11:30, 11:00 to 12:30, and so on for ever:
    # the chain is followed a bounded way, never past what the cron names.
    assert found.starts_at == datetime(2031, 3, 1, 10, tzinfo=UTC)
    assert found.ends_at > datetime(2031, 3, 1, 12, 30, tzinfo=UTC)
    once = FreezeWindow(starts_at=at, ends_at=at + timedelta(minutes=1))
    assert opening(once, at - timedelta(seconds=1)) is None
    assert opening(once, at) is not None
    assert opening(once, at + timedelta(minutes=1)) is None


async def test_every_launch_on_a_held_host_answers_409_naming_the_window_and_its_end(
    client: httpx.AsyncClient, admin: Person, operator: Person, estate: Estate
) -> None:
    window = await make_window(client, admin, **around_now(environments=[estate.environment]))
    launches = {
        f"/job-templates/{estate.template_id}/launch": {},
        "/runs": {"playbook_id": estate.playbook_id,
                  "selector": {"environment": estate.environment}},
        "/jobs": {"playbook_id": estate.playbook_id, "host_id": estate.frozen_ids[0]},
    }  # fmt: skip
    for path, body in launches.items():
        response = await client.post(path, json=body, headers=operator.headers)
        assert response.status_code == 409, (path, response.text)
        detail = response.json()["detail"]
        assert window["name"] in detail
        assert window["ends_at"].replace("Z", "") in detail
    # Out of the window's scope, launches go on.
    elsewhere = await client.post(
        "/jobs", json={"playbook_id": estate.playbook_id, "host_id": estate.other_id},
        headers=operator.headers,
    )  # fmt: skip
    assert elsewhere.status_code == 202, elsewhere.text


async def test_an_admins_reason_overrides_a_window_and_is_audited_an_operators_is_not(
    client: httpx.AsyncClient, engine: AsyncEngine, admin: Person, operator: Person, estate: Estate
) -> None:
    window = await make_window(client, admin, **around_now(environments=[estate.environment]))
    path = f"/job-templates/{estate.template_id}/launch"
    reason = {"override_reason": "hotfix for INC-42"}

    refused = await client.post(path, json=reason, headers=operator.headers)
    launched = await client.post(path, json=reason, headers=admin.headers)
    job = await client.post(
        "/jobs", json={"playbook_id": estate.playbook_id, "host_id": estate.frozen_ids[1],
                       **reason}, headers=admin.headers,
    )  # fmt: skip

    assert refused.status_code == 403, refused.text
    assert launched.status_code == 202, launched.text
    assert job.status_code == 202, job.text
    trail = await audit_trail(engine, launched)
    assert trail[0] == ("override", "freeze_window")
    assert ("create", "run") in trail
    async with engine.connect() as connection:
        after = await connection.scalar(
            select(AuditLog.after).where(
                AuditLog.request_id == launched.headers["x-request-id"],
                AuditLog.action == "override",
            )
        )
    assert after["reason"] == "hotfix for INC-42"
    assert sorted(after["host_ids"]) == sorted(estate.frozen_ids)
    assert after["until"].startswith(window["ends_at"].replace("Z", ""))


async def test_a_window_over_every_host_skips_a_schedule_fire_and_records_which(
    client: httpx.AsyncClient, engine: AsyncEngine, admin: Person, operator: Person, estate: Estate
) -> None:
    made = await client.post(
        "/schedules",
        json={"name": f.unique("nightly"), "template_id": estate.template_id,
              "cron": "0 3 * * *", "timezone": "UTC"},
        headers=operator.headers,
    )  # fmt: skip
    assert made.status_code == 201, made.text
    schedule = made.json()
    due = datetime.fromisoformat(schedule["next_run_at"])
    # Every host, but only around that due time: the rest of this database goes on.
    window = await make_window(
        client, admin, starts_at=(due - timedelta(minutes=5)).isoformat(),
        ends_at=(due + timedelta(minutes=30)).isoformat(),
    )  # fmt: skip

    try:
        fired = await fire_due(engine, SETTINGS, due)
        async with unit_of_work(session_factory(engine)) as session:
            fire = (
                await session.scalars(
                    select(ScheduleFire).where(ScheduleFire.schedule_id == schedule["id"])
                )
            ).one()
            runs = await session.scalar(
                select(Run.id).where(Run.template_id == estate.template_id).limit(1)
            )
    finally:
        await client.delete(f"/freeze-windows/{window['id']}", headers=admin.headers)
    assert [one.outcome for one in fired if one.schedule_id == schedule["id"]] == ["skipped"]
    assert fire.run_id is None
    assert runs is None
    assert fire.reason is not None
    assert window["name"] in fire.reason

    following = await fire_due(engine, SETTINGS, due + timedelta(days=1))
    assert [one.outcome for one in following if one.schedule_id == schedule["id"]] == ["launched"]
