"""Review 5 (hostile review of triggers and freeze windows): reproductions. Each test
states what should hold; those that fail on main are the findings of the review."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.models import AuditLog, Run
from opsledger.triggers.service import MAX_UNSIGNED
from tests import factories as f
from tests.api import Person
from tests.triggers.test_triggers import (
    PAYLOAD,
    deliveries,
    github,
    make_hook,
    make_template,
    ours,
    post,
)


async def runs_of(engine: AsyncEngine, template_id: int) -> int:
    async with engine.connect() as connection:
        statement = select(func.count()).select_from(Run).where(Run.template_id == template_id)
        return int(await connection.scalar(statement) or 0)


async def test_a_captured_github_delivery_replayed_under_a_new_id_launches_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine, operator: Person
) -> None:
    """The delivery id is not signed and a GitHub-form signature carries no time: one
    captured (body, X-Hub-Signature-256) launches again under any fresh id, forever."""
    hook = await make_hook(client, engine, operator)
    body = json.dumps(PAYLOAD).encode()
    captured = github(hook.secret, body, "original")["X-Hub-Signature-256"]

    first = await post(client, hook, body, {"X-Hub-Signature-256": captured,
                                            "X-GitHub-Delivery": "original"})  # fmt: skip
    replays = [
        await post(client, hook, body, {"X-Hub-Signature-256": captured, header: value})
        for header, value in (("X-GitHub-Delivery", "forged-1"), ("X-Opsledger-Delivery", "f-2"))
    ]

    assert first.status_code == 202, first.text
    assert [r.status_code for r in replays] != [202, 202], "replays launched again"
    assert await runs_of(engine, hook.template_id) == 1


async def test_a_captured_ours_delivery_replayed_under_a_new_id_launches_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine, operator: Person
) -> None:
    """X-Opsledger-Signature signs t.body but not the delivery id: within the 5 minutes a
    replay with another id launches again (up to the rate cap)."""
    hook = await make_hook(client, engine, operator)
    body = json.dumps(PAYLOAD).encode()
    signature = ours(hook.secret, body, "x")["X-Opsledger-Signature"]

    answers = []
    for n in range(3):
        replay = {"X-Opsledger-Signature": signature, "X-Opsledger-Delivery": f"id-{n}"}
        answers.append(await post(client, hook, body, replay))

    assert [r.status_code for r in answers][1:] != [202, 202]
    assert await runs_of(engine, hook.template_id) == 1


async def test_our_signature_is_not_a_github_signature_of_another_body(
    client: httpx.AsyncClient, engine: AsyncEngine, operator: Person
) -> None:
    """No domain separation: HMAC(secret, "t.body") of our form is a valid GitHub-form
    signature of the body "t.body"; with body "5" that is the JSON number "<t>.5", which
    then launches with no time limit."""
    hook = await make_hook(client, engine, operator, prompts={})
    body = b"5"
    header = ours(hook.secret, body, "x")["X-Opsledger-Signature"]
    stamp, digest = (part.split("=", 1)[1] for part in header.split(","))
    forged = stamp.encode() + b"." + body

    response = await post(client, hook, forged, {"X-Hub-Signature-256": f"sha256={digest}",
                                                 "X-GitHub-Delivery": "forged"})  # fmt: skip

    # 422 ("prompt version: a value is required") means the forged signature was accepted.
    assert response.status_code == 401, response.text


async def test_a_key_scoped_without_jobs_run_cannot_launch_through_a_trigger(
    client: httpx.AsyncClient, engine: AsyncEngine, operator: Person
) -> None:
    """An API key scoped to triggers:write (no jobs:run) made a trigger, was handed its
    secret, and launched runs through it: the trigger acted with the owner's full role.
    Now making (or changing) a trigger needs jobs:run in the key's scopes too."""
    made = await client.post(
        "/api-keys", json={"name": "ci", "scopes": ["triggers:write"]}, headers=operator.headers
    )
    assert made.status_code == 201, made.text
    key = {"X-API-Key": made.json()["key"]}
    template_id, _ = await make_template(engine)
    direct = await client.post(f"/job-templates/{template_id}/launch", json={"prompts": {
        "version": "1.0"}}, headers=key)  # fmt: skip
    trigger = await client.post(
        "/triggers",
        json={"name": f.unique("ci"), "template_id": template_id, "prompts": {"version": "/v"}},
        headers=key,
    )
    hook = await make_hook(client, engine, operator)
    changed = await client.patch(f"/triggers/{hook.id}", json={"enabled": False}, headers=key)

    assert direct.status_code == 403
    assert trigger.status_code == 403, trigger.text
    assert "jobs:run" in trigger.json()["detail"]
    assert changed.status_code == 403, changed.text
    assert await runs_of(engine, template_id) == 0


async def test_concurrent_deliveries_of_one_id_launch_once_and_answer_duplicate(
    client: httpx.AsyncClient, engine: AsyncEngine, operator: Person
) -> None:
    hook = await make_hook(client, engine, operator, rate_per_minute=600)
    body = json.dumps(PAYLOAD).encode()
    signed = ours(hook.secret, body, "same-id")

    answers = await asyncio.gather(*(post(client, hook, body, signed) for _ in range(6)))

    codes = sorted(r.status_code for r in answers)
    assert codes == [200] * 5 + [202], [r.text for r in answers]
    assert len(await deliveries(client, operator, hook)) == 6


async def test_concurrent_deliveries_keep_the_rate_cap(
    client: httpx.AsyncClient, engine: AsyncEngine, operator: Person
) -> None:
    hook = await make_hook(client, engine, operator, rate_per_minute=2)
    body = json.dumps(PAYLOAD).encode()

    answers = await asyncio.gather(
        *(post(client, hook, body, ours(hook.secret, body, f"id-{n}")) for n in range(8))
    )

    assert await runs_of(engine, hook.template_id) <= 2, [r.status_code for r in answers]


async def test_an_admins_key_scoped_to_jobs_run_does_not_override_a_freeze(
    client: httpx.AsyncClient, engine: AsyncEngine, admin: Person
) -> None:
    """Override is ``actor.is_admin`` (the role only): an admin's CI key narrowed to
    jobs:run and templates:read still passes every freeze window with a reason."""
    template_id, environment = await make_template(engine)
    now = datetime.now(UTC)
    window = await client.post("/freeze-windows", json={
        "name": f.unique("freeze"), "environments": [environment],
        "starts_at": (now - timedelta(minutes=1)).isoformat(),
        "ends_at": (now + timedelta(hours=1)).isoformat()}, headers=admin.headers)  # fmt: skip
    assert window.status_code == 201, window.text
    made = await client.post("/api-keys", json={"name": "ci", "scopes": [
        "jobs:run", "templates:read"]}, headers=admin.headers)  # fmt: skip
    key = {"X-API-Key": made.json()["key"]}

    launched = await client.post(f"/job-templates/{template_id}/launch", json={
        "prompts": {"version": "1.0"}, "override_reason": "ci says so"}, headers=key)  # fmt: skip

    assert launched.status_code == 403, launched.text


async def test_refused_deliveries_do_not_grow_the_audit_trail_without_bound(
    client: httpx.AsyncClient, engine: AsyncEngine, operator: Person
) -> None:
    """Anyone who guesses a trigger id (sequential) writes a delivery row and an audit row
    per unsigned request, with no cap: the rate applies to launches only."""
    hook = await make_hook(client, engine, operator, rate_per_minute=1)
    async with engine.connect() as connection:
        before = await connection.scalar(select(func.count()).select_from(AuditLog))
    for n in range(50):
        await post(client, hook, b"{}", {"X-GitHub-Delivery": f"junk-{n}",
                                         "X-Hub-Signature-256": "sha256=00"})  # fmt: skip
    async with engine.connect() as connection:
        after = await connection.scalar(select(func.count()).select_from(AuditLog))
    assert (after or 0) - (before or 0) < 50, f"{(after or 0) - (before or 0)} audit rows"
    # Recorded (unaudited) up to the cap a minute, then answered alike and not kept.
    recorded = await deliveries(client, operator, hook)
    assert [d["status_code"] for d in recorded] == [401] * MAX_UNSIGNED


async def test_a_signed_value_pydantic_refuses_is_a_recorded_422_not_a_500(
    client: httpx.AsyncClient, engine: AsyncEngine, operator: Person
) -> None:
    """NaN (json.loads takes it) or a NUL in a text value passes prompt_values but
    TemplateLaunch(...) raises pydantic's ValidationError, which nothing catches: 500, and
    the delivery's record and audit row roll back with it."""
    hook = await make_hook(client, engine, operator)
    answers = []
    for n, body in enumerate((b'{"release": {"tag_name": NaN}}',
                              b'{"release": {"tag_name": "1.1\\u0000"}}')):  # fmt: skip
        answers.append(await post(client, hook, body, github(hook.secret, body, f"v{n}")))

    assert [r.status_code for r in answers] == [422, 422], [r.text for r in answers]
    assert len(await deliveries(client, operator, hook)) == 2
