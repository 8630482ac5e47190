"""Schedules over the API: CRUD with its audit rows, who may change them, prompt values
checked when saved (secrets encrypted and masked), timing refused by name, previews in
the zone and in UTC, enabling and disabling."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.db.session import session_factory, unit_of_work
from opsledger.models import AuditLog, Schedule
from opsledger.users.models import UserRole
from tests.api import Person, audit_trail, make_person
from tests.schedules.conftest import Target, make_target, schedule_body

SECRET = "t0ken-" + "7" * 20


async def create(client: httpx.AsyncClient, person: Person, body: dict[str, object]) -> dict:
    response = await client.post("/schedules", json=body, headers=person.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_an_operator_creates_reads_changes_and_deletes_a_schedule_each_change_audited(
    client: httpx.AsyncClient,
    operator: Person,
    viewer: Person,
    engine: AsyncEngine,
    target: Target,
) -> None:
    body = schedule_body(
        target.template_id, check=True, verbosity=2, extra_vars={"reboot": False}, overlap="queue"
    )
    created = await client.post("/schedules", json=body, headers=operator.headers)
    schedule = created.json()
    url = f"/schedules/{schedule['id']}"

    assert created.status_code == 201, created.text
    assert {k: schedule[k] for k in body} == body | {"prompts": {"version": "1.1"}}
    assert schedule["user_id"] == operator.id
    assert schedule["enabled"] is True
    assert schedule["missed"] == "skip"
    next_run = datetime.fromisoformat(schedule["next_run_at"])
    assert next_run > datetime.now(UTC)
    assert next_run.astimezone(UTC).minute == 30
    assert await audit_trail(engine, created) == [("create", "schedule")]

    read = await client.get(url, headers=viewer.headers)
    listed = await client.get("/schedules", params={"name": body["name"]}, headers=viewer.headers)
    assert read.json() == schedule
    assert listed.json() == {"items": [schedule], "next_cursor": None}

    changed = await client.patch(
        url, json={"cron": "0 4 * * 1", "check": None}, headers=operator.headers
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["cron"] == "0 4 * * 1"
    assert changed.json()["check"] is None
    assert changed.json()["verbosity"] == 2
    assert datetime.fromisoformat(changed.json()["next_run_at"]).weekday() in (0, 6)
    assert await audit_trail(engine, changed) == [("update", "schedule")]

    refused = await client.patch(url, json={"name": "x"}, headers=viewer.headers)
    deleted = await client.delete(url, headers=operator.headers)
    assert refused.status_code == 403
    assert deleted.status_code == 204
    assert await audit_trail(engine, deleted) == [("delete", "schedule")]
    assert (await client.get(url, headers=viewer.headers)).status_code == 404


async def test_a_second_schedule_with_the_same_name_is_refused(
    client: httpx.AsyncClient, operator: Person, target: Target
) -> None:
    body = schedule_body(target.template_id)
    await create(client, operator, body)

    again = await client.post("/schedules", json=body, headers=operator.headers)

    assert again.status_code == 409


async def test_prompt_values_are_checked_when_saved_and_a_secret_one_is_kept_encrypted(
    client: httpx.AsyncClient, operator: Person, engine: AsyncEngine, target: Target
) -> None:
    bad = await client.post(
        "/schedules",
        json=schedule_body(target.template_id, prompts={"version": "9.9", "other": 1}),
        headers=operator.headers,
    )
    missing = await client.post(
        "/schedules", json=schedule_body(target.template_id, prompts={}), headers=operator.headers
    )
    made = await client.post(
        "/schedules",
        json=schedule_body(target.template_id, prompts={"version": "1.0", "token": SECRET}),
        headers=operator.headers,
    )

    assert bad.status_code == 422
    assert {tuple(e["loc"]) for e in bad.json()["errors"]} == {
        ("body", "prompts", "version"),
        ("body", "prompts", "other"),
    }
    assert missing.status_code == 422
    assert made.status_code == 201, made.text
    assert made.json()["prompts"] == {"version": "1.0", "token": "********"}
    assert SECRET not in made.text
    async with engine.connect() as connection:
        raw = await connection.scalar(
            text("SELECT secret_prompts FROM schedules WHERE id = :id"), {"id": made.json()["id"]}
        )
        audited = await connection.scalar(
            select(AuditLog.after).where(AuditLog.request_id == made.headers["x-request-id"])
        )
    assert raw.startswith("gAAAAA")
    assert SECRET not in str(audited)
    assert audited["secret_prompts"] == "********"


async def test_prompt_values_sent_back_as_read_keep_the_secret_one(
    client: httpx.AsyncClient, operator: Person, engine: AsyncEngine, target: Target
) -> None:
    made = await create(
        client,
        operator,
        schedule_body(target.template_id, prompts={"version": "1.0", "token": SECRET}),
    )
    url = f"/schedules/{made['id']}"
    read = (await client.get(url, headers=operator.headers)).json()["prompts"]

    kept = await client.patch(
        url, json={"prompts": read | {"version": "1.1"}}, headers=operator.headers
    )
    async with unit_of_work(session_factory(engine)) as session:
        schedule = await session.get(Schedule, made["id"])
        assert schedule is not None
        stored = schedule.secret_prompts

    assert kept.status_code == 200, kept.text
    assert kept.json()["prompts"] == {"version": "1.1", "token": "********"}
    assert stored == json.dumps({"token": SECRET})  # not the mask


async def test_a_kept_secret_never_goes_to_a_prompt_that_is_not_secret(
    client: httpx.AsyncClient, operator: Person, viewer: Person, engine: AsyncEngine,
    target: Target,
) -> None:  # fmt: skip
    made = await create(
        client,
        operator,
        schedule_body(target.template_id, prompts={"version": "1.0", "token": SECRET}),
    )
    url = f"/schedules/{made['id']}"
    plain = await make_target(
        engine, prompts=[{"name": "version", "type": "text"}, {"name": "token", "type": "text"}]
    )

    moved_alone = await client.patch(
        url, json={"template_id": plain.template_id}, headers=operator.headers
    )
    moved_masked = await client.patch(
        url,
        json={"template_id": plain.template_id, "prompts": {"token": "********"}},
        headers=operator.headers,
    )
    moved_typed = await client.patch(
        url,
        json={"template_id": plain.template_id, "prompts": {"token": "typed-anew"}},
        headers=operator.headers,
    )
    read = await client.get(url, headers=viewer.headers)

    for refused in (moved_alone, moved_masked):
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["loc"] == ["body", "prompts", "token"]
        assert SECRET not in refused.text
    assert moved_typed.status_code == 200, moved_typed.text
    assert read.json()["prompts"] == {"token": "typed-anew"}
    assert SECRET not in read.text


async def test_a_template_that_does_not_exist_is_named(
    client: httpx.AsyncClient, operator: Person
) -> None:
    response = await client.post(
        "/schedules", json=schedule_body(2_000_000_000, prompts={}), headers=operator.headers
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "template_id"]


async def test_a_bad_expression_or_zone_answers_422_naming_it(
    client: httpx.AsyncClient, operator: Person, target: Target
) -> None:
    def sent(**fields: object) -> dict[str, object]:
        return schedule_body(target.template_id, **fields)

    bad_cron = await client.post(
        "/schedules", json=sent(cron="61 * * * *"), headers=operator.headers
    )
    bad_zone = await client.post(
        "/schedules", json=sent(timezone="Mars/Olympus"), headers=operator.headers
    )
    both = await client.post(
        "/schedules", json=sent(run_at="2030-01-01T00:00:00Z"), headers=operator.headers
    )
    past = await client.post(
        "/schedules",
        json=sent(cron=None, run_at="2020-01-01T00:00:00Z"),
        headers=operator.headers,
    )
    preview = await client.get(
        "/schedules/preview",
        params={"cron": "* * *", "timezone": "Nowhere"},
        headers=operator.headers,
    )

    assert bad_cron.status_code == 422
    assert bad_cron.json()["errors"][0]["loc"] == ["body", "cron"]
    assert bad_zone.status_code == 422
    assert bad_zone.json()["errors"][0]["loc"] == ["body", "timezone"]
    assert both.status_code == 422
    assert past.status_code == 422
    assert past.json()["errors"][0]["loc"] == ["body", "run_at"]
    assert preview.status_code == 422
    assert {tuple(e["loc"]) for e in preview.json()["errors"]} == {
        ("query", "cron"),
        ("query", "timezone"),
    }


async def test_a_preview_names_the_next_times_in_the_zone_and_in_utc(
    client: httpx.AsyncClient, operator: Person, target: Target
) -> None:
    schedule = await create(client, operator, schedule_body(target.template_id))

    response = await client.get(
        f"/schedules/{schedule['id']}/preview", params={"count": 5}, headers=operator.headers
    )
    too_many = await client.get(
        f"/schedules/{schedule['id']}/preview", params={"count": 1000}, headers=operator.headers
    )

    assert response.status_code == 200, response.text
    preview = response.json()
    assert preview["timezone"] == "Europe/Berlin"
    assert len(preview["times"]) == 5
    for time in preview["times"]:
        local = datetime.fromisoformat(time["local"])
        assert (local.hour, local.minute) == (2, 30) or (local.hour, local.minute) == (3, 0)
        assert local == datetime.fromisoformat(time["utc"])
    assert preview["times"][0]["utc"] == schedule["next_run_at"]
    assert too_many.status_code == 422


async def test_an_unsaved_expression_previews_across_a_dst_change(
    client: httpx.AsyncClient, viewer: Person
) -> None:
    response = await client.get(
        "/schedules/preview",
        params={"cron": "30 2 * * *", "timezone": "America/New_York", "count": 3},
        headers=viewer.headers,
    )

    assert response.status_code == 200, response.text
    assert len(response.json()["times"]) == 3


async def test_a_one_off_schedule_fires_once_and_ends_nowhere_after(
    client: httpx.AsyncClient, operator: Person, target: Target
) -> None:
    at = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    schedule = await create(
        client, operator, schedule_body(target.template_id, cron=None, run_at=at.isoformat())
    )

    preview = await client.get(
        f"/schedules/{schedule['id']}/preview", params={"count": 3}, headers=operator.headers
    )

    assert datetime.fromisoformat(schedule["next_run_at"]) == at
    assert [datetime.fromisoformat(t["utc"]) for t in preview.json()["times"]] == [at]


async def test_disabling_clears_the_next_time_and_enabling_counts_from_now(
    client: httpx.AsyncClient, operator: Person, engine: AsyncEngine, target: Target
) -> None:
    schedule = await create(client, operator, schedule_body(target.template_id))
    url = f"/schedules/{schedule['id']}"

    disabled = await client.post(f"{url}/disable", headers=operator.headers)
    again = await client.post(f"{url}/disable", headers=operator.headers)
    enabled = await client.post(f"{url}/enable", headers=operator.headers)

    assert disabled.json()["enabled"] is False
    assert disabled.json()["next_run_at"] is None
    assert await audit_trail(engine, disabled) == [("disable", "schedule")]
    assert await audit_trail(engine, again) == []
    assert enabled.json()["enabled"] is True
    assert enabled.json()["next_run_at"] == schedule["next_run_at"]
    assert await audit_trail(engine, enabled) == [("enable", "schedule")]


async def test_the_list_is_keyset_paged(
    client: httpx.AsyncClient, operator: Person, target: Target
) -> None:
    made = [await create(client, operator, schedule_body(target.template_id)) for _ in range(3)]
    params = {"template_id": target.template_id, "limit": 2}

    first = (await client.get("/schedules", params=params, headers=operator.headers)).json()
    second = (
        await client.get(
            "/schedules", params=params | {"after": first["next_cursor"]}, headers=operator.headers
        )
    ).json()

    assert [s["id"] for s in first["items"] + second["items"]] == [s["id"] for s in made]
    assert second["next_cursor"] is None


async def test_a_template_a_schedule_launches_cannot_be_deleted(
    client: httpx.AsyncClient, operator: Person, target: Target
) -> None:
    await create(client, operator, schedule_body(target.template_id))

    response = await client.delete(f"/job-templates/{target.template_id}", headers=operator.headers)

    assert response.status_code == 409, response.text


async def test_moving_to_another_template_checks_the_kept_values_against_its_prompts(
    client: httpx.AsyncClient, operator: Person, engine: AsyncEngine, target: Target
) -> None:
    schedule = await create(
        client,
        operator,
        schedule_body(target.template_id, prompts={"version": "1.0", "token": SECRET}),
    )
    url = f"/schedules/{schedule['id']}"
    alike = await make_target(engine)
    other = await make_target(engine, prompts=[{"name": "release", "type": "text"}])

    moved = await client.patch(
        url, json={"template_id": alike.template_id}, headers=operator.headers
    )
    refused = await client.patch(
        url, json={"template_id": other.template_id}, headers=operator.headers
    )
    reset = await client.patch(
        url, json={"template_id": other.template_id, "prompts": None}, headers=operator.headers
    )

    assert moved.status_code == 200, moved.text
    assert moved.json()["prompts"] == {"version": "1.0", "token": "********"}
    assert refused.status_code == 422
    assert {tuple(e["loc"]) for e in refused.json()["errors"]} == {
        ("body", "prompts", "version"),
        ("body", "prompts", "token"),
    }
    assert reset.status_code == 200, reset.text
    assert reset.json()["prompts"] == {}


async def test_a_key_scoped_to_schedules_alone_may_not_save_one_that_launches_runs(
    client: httpx.AsyncClient, operator: Person, target: Target
) -> None:
    issued = await client.post(
        "/api-keys",
        json={"name": "scheduler", "scopes": ["schedules:read", "schedules:write"]},
        headers=operator.headers,
    )
    assert issued.status_code == 201, issued.text
    scoped = {"X-API-Key": issued.json()["key"]}

    refused = await client.post(
        "/schedules", json=schedule_body(target.template_id), headers=scoped
    )
    listed = await client.get("/schedules", headers=scoped)

    assert refused.status_code == 403
    assert "jobs:run" in refused.json()["detail"]
    assert listed.status_code == 200


async def test_only_the_owner_or_an_admin_changes_a_schedule_but_anyone_may_disable_it(
    client: httpx.AsyncClient, engine: AsyncEngine, operator: Person, admin: Person,
    target: Target,
) -> None:  # fmt: skip
    made = await client.post(
        "/schedules", json=schedule_body(target.template_id), headers=operator.headers
    )
    assert made.status_code == 201, made.text
    path = f"/schedules/{made.json()['id']}"
    other = await make_person(engine, UserRole.operator)

    refused = [
        await client.patch(path, json={"cron": "* * * * *"}, headers=other.headers),
        await client.delete(path, headers=other.headers),
    ]
    disabled = await client.post(f"{path}/disable", headers=other.headers)
    not_enabled = await client.post(f"{path}/enable", headers=other.headers)
    by_admin = await client.post(f"{path}/enable", headers=admin.headers)

    assert [r.status_code for r in refused] == [403, 403]
    assert "only they or an admin" in refused[0].json()["detail"]
    assert disabled.status_code == 200, disabled.text
    assert not_enabled.status_code == 403
    assert by_admin.status_code == 200, by_admin.text
    assert by_admin.json()["enabled"] is True
    assert by_admin.json()["user_id"] == operator.id
