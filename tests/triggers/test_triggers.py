"""Triggers: a secret shown once and kept encrypted; deliveries accepted only when signed
(GitHub's form or ours, recent), each delivery id launching once, at most N a minute, as
the trigger's owner, with only the prompt values the allow-list of JSON pointers names;
and every delivery, accepted or refused, recorded and audited."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.db.session import session_factory, unit_of_work
from opsledger.models import AuditLog, Run
from opsledger.users.models import UserRole
from tests import factories as f
from tests.api import Person, audit_trail, make_person

PROMPTS = [
    {"name": "version", "type": "choice", "choices": ["1.0", "1.1"], "required": True},
    {"name": "replicas", "type": "integer", "min": 1, "max": 9, "default": 2},
]
PAYLOAD = {
    "release": {"tag_name": "1.1", "assets": [{"count": 3}]},
    "version": "1.0",
    "ansible_connection": "local",
    "extra_vars": {"rm": "-rf /"},
}


@dataclass(frozen=True)
class Hook:
    id: int
    secret: str
    environment: str
    template_id: int


async def make_template(engine: AsyncEngine) -> tuple[int, str]:
    environment = f.unique("env")
    async with unit_of_work(session_factory(engine)) as session:
        playbook = await f.make_playbook(session)
        await f.make_host(session, environment=environment)
        template = await f.make_template(
            session, playbook_id=playbook.id, selector={"environment": environment},
            prompts=PROMPTS,
        )  # fmt: skip
        return template.id, environment


async def make_hook(
    client: httpx.AsyncClient, engine: AsyncEngine, person: Person, **fields: Any
) -> Hook:
    template_id, environment = await make_template(engine)
    body = {
        "name": f.unique("release"),
        "template_id": template_id,
        "prompts": {"version": "/release/tag_name", "replicas": "/release/assets/0/count"},
    } | fields
    response = await client.post("/triggers", json=body, headers=person.headers)
    assert response.status_code == 201, response.text
    made = response.json()
    return Hook(made["id"], made["secret"], environment, template_id)


def github(secret: str, body: bytes, delivery: str) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "X-GitHub-Delivery": delivery}


def ours(secret: str, body: bytes, delivery: str, at: float | None = None) -> dict[str, str]:
    stamp = str(int(time.time() if at is None else at))
    key = hmac.new(secret.encode(), b"opsledger-v1", hashlib.sha256).digest()
    digest = hmac.new(key, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"X-Opsledger-Signature": f"t={stamp},v1={digest}", "X-Opsledger-Delivery": delivery}


async def post(
    client: httpx.AsyncClient, hook: Hook, body: bytes, headers: dict[str, str]
) -> httpx.Response:
    return await client.post(
        f"/hooks/{hook.id}", content=body, headers={"Content-Type": "application/json", **headers}
    )


async def deliveries(client: httpx.AsyncClient, person: Person, hook: Hook) -> list[dict]:
    response = await client.get(f"/triggers/{hook.id}/deliveries", headers=person.headers)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def test_the_secret_is_shown_once_kept_encrypted_and_never_audited(
    client: httpx.AsyncClient, engine: AsyncEngine, operator: Person, viewer: Person
) -> None:
    template_id, _ = await make_template(engine)
    body = {"name": f.unique("release"), "template_id": template_id,
            "prompts": {"version": "/release/tag_name"}}  # fmt: skip
    refused = await client.post("/triggers", json=body, headers=viewer.headers)
    made = await client.post("/triggers", json=body, headers=operator.headers)
    unknown = await client.post(
        "/triggers", json=body | {"name": f.unique("x"), "prompts": {"nope": "/a"}},
        headers=operator.headers,
    )  # fmt: skip
    not_a_pointer = await client.post(
        "/triggers", json=body | {"name": f.unique("x"), "prompts": {"version": "a/b"}},
        headers=operator.headers,
    )  # fmt: skip

    assert refused.status_code == 403
    assert made.status_code == 201, made.text
    assert unknown.status_code == 422
    assert "nope" in unknown.text
    assert not_a_pointer.status_code == 422
    trigger = made.json()
    assert trigger["url"] == f"/api/v1/hooks/{trigger['id']}"
    assert trigger["user_id"] == operator.id
    secret = trigger["secret"]
    read = await client.get(f"/triggers/{trigger['id']}", headers=viewer.headers)
    assert "secret" not in read.json()
    assert secret not in read.text
    assert await audit_trail(engine, made) == [("create", "trigger")]
    async with engine.connect() as connection:
        raw = await connection.scalar(
            text("SELECT secret FROM triggers WHERE id = :id"), {"id": trigger["id"]}
        )
        audited = await connection.scalar(
            select(AuditLog.after).where(AuditLog.request_id == made.headers["x-request-id"])
        )
    assert raw.startswith("gAAAAA")
    assert audited["secret"] == "********"


async def test_a_signed_delivery_launches_as_the_owner_with_only_the_allowed_values(
    client: httpx.AsyncClient, engine: AsyncEngine, operator: Person
) -> None:
    hook = await make_hook(client, engine, operator)
    body = json.dumps(PAYLOAD).encode()

    by_github = await post(client, hook, body, github(hook.secret, body, f.unique("gh")))
    by_ours = await post(client, hook, body, ours(hook.secret, body, f.unique("ol")))

    for response in (by_github, by_ours):
        assert response.status_code == 202, response.text
        assert response.json()["outcome"] == "launched"
    async with unit_of_work(session_factory(engine)) as session:
        run = await session.get(Run, by_github.json()["run_id"])
        assert run is not None
        assert run.user_id == operator.id
        assert run.template_id == hook.template_id
        # The pointers' values and nothing else of the payload.
        assert run.extra_vars == {"version": "1.1", "replicas": 3}
    trail = await audit_trail(engine, by_github)
    assert ("create", "run") in trail
    assert trail[-1] == ("create", "trigger_delivery")


async def test_an_unsigned_or_wrongly_signed_or_stale_delivery_is_refused_and_recorded(
    client: httpx.AsyncClient, engine: AsyncEngine, operator: Person
) -> None:
    hook = await make_hook(client, engine, operator)
    body = json.dumps(PAYLOAD).encode()
    stale_at = time.time() - 301

    answers = {
        "missing": await post(client, hook, body, {"X-GitHub-Delivery": f.unique("d")}),
        "bad github": await post(client, hook, body, github("wrong", body, f.unique("d"))),
        "bad ours": await post(client, hook, body, ours("wrong", body, f.unique("d"))),
        "other body": await post(client, hook, body + b" ", github(hook.secret, body, "x1")),
        "stale": await post(client, hook, body, ours(hook.secret, body, "x2", stale_at)),
        "no id": await post(
            client, hook, body, {"X-Hub-Signature-256": github(hook.secret, body, "")[
                "X-Hub-Signature-256"]}
        ),
    }  # fmt: skip

    assert {name: r.status_code for name, r in answers.items()} == {
        "missing": 401, "bad github": 401, "bad ours": 401, "other body": 401, "stale": 401,
        "no id": 400,
    }  # fmt: skip
    assert "5 minutes" in answers["stale"].json()["detail"]
    for name, response in answers.items():
        assert response.headers["content-type"] == "application/problem+json"
        # Anyone may send an unsigned delivery: it is recorded, not audited.
        audited = [("create", "trigger_delivery")] if name == "no id" else []
        assert await audit_trail(engine, response) == audited
    recorded = await deliveries(client, operator, hook)
    assert [d["outcome"] for d in recorded] == ["refused"] * 6
    assert {d["body_sha256"] for d in recorded} >= {hashlib.sha256(body).hexdigest()}
    assert all("release" not in (d["reason"] or "") for d in recorded)


async def test_a_delivery_id_seen_before_launches_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine, operator: Person
) -> None:
    hook = await make_hook(client, engine, operator)
    body = json.dumps(PAYLOAD).encode()
    signed = github(hook.secret, body, f.unique("gh"))

    first = await post(client, hook, body, signed)
    again = await post(client, hook, body, signed)

    assert first.status_code == 202, first.text
    assert again.status_code == 200, again.text
    assert again.json()["outcome"] == "duplicate"
    assert again.json()["run_id"] is None
    assert [d["outcome"] for d in await deliveries(client, operator, hook)] == [
        "duplicate",
        "launched",
    ]


async def test_launches_beyond_the_rate_are_refused_with_429(
    client: httpx.AsyncClient, engine: AsyncEngine, operator: Person
) -> None:
    hook = await make_hook(client, engine, operator, rate_per_minute=2)
    # Bodies apart: one signed body launches once, whatever its delivery id.
    bodies = [json.dumps(PAYLOAD | {"n": n}).encode() for n in range(3)]

    answers = [
        await post(client, hook, body, ours(hook.secret, body, f.unique("ol"))) for body in bodies
    ]

    assert [r.status_code for r in answers] == [202, 202, 429]
    assert answers[2].headers["retry-after"] == "60"


@pytest.mark.parametrize(
    ("payload", "status", "named"),
    [
        ({"release": {"tag_name": "2.0"}}, 422, "version"),
        ({"release": {"tag_name": {"nested": "1.1"}}}, 422, "object or a list"),
        ({"release": {}}, 422, "version"),
    ],
)
async def test_values_the_templates_prompts_refuse_launch_nothing(
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    operator: Person,
    payload: dict[str, Any],
    status: int,
    named: str,
) -> None:
    hook = await make_hook(client, engine, operator)
    body = json.dumps(payload).encode()
    response = await post(client, hook, body, github(hook.secret, body, f.unique("gh")))
    assert response.status_code == status, response.text
    assert named in response.json()["detail"]
    assert [d["outcome"] for d in await deliveries(client, operator, hook)] == ["refused"]


async def test_a_freeze_window_refuses_a_delivery(
    client: httpx.AsyncClient, engine: AsyncEngine, admin: Person, operator: Person
) -> None:
    hook = await make_hook(client, engine, operator)
    now = datetime.now(UTC)
    window = await client.post(
        "/freeze-windows",
        json={"name": f.unique("freeze"), "environments": [hook.environment],
              "starts_at": (now - timedelta(minutes=1)).isoformat(),
              "ends_at": (now + timedelta(hours=1)).isoformat()},
        headers=admin.headers,
    )  # fmt: skip
    assert window.status_code == 201, window.text
    body = json.dumps(PAYLOAD).encode()

    response = await post(client, hook, body, github(hook.secret, body, f.unique("gh")))

    assert response.status_code == 409, response.text
    assert window.json()["name"] in response.json()["detail"]
    (recorded,) = await deliveries(client, operator, hook)
    assert recorded["outcome"] == "refused"
    assert recorded["run_id"] is None


async def test_only_the_owner_or_an_admin_changes_a_trigger_or_rotates_its_secret(
    client: httpx.AsyncClient, engine: AsyncEngine, operator: Person, admin: Person
) -> None:
    hook = await make_hook(client, engine, operator)
    other = await make_person(engine, UserRole.operator)
    path = f"/triggers/{hook.id}"

    refused = [
        await client.patch(path, json={"rate_per_minute": 600}, headers=other.headers),
        await client.post(f"{path}/rotate", headers=other.headers),
        await client.delete(path, headers=other.headers),
    ]
    by_admin = await client.patch(path, json={"rate_per_minute": 5}, headers=admin.headers)
    rotated = await client.post(f"{path}/rotate", headers=operator.headers)
    body = json.dumps(PAYLOAD).encode()
    old = await post(client, hook, body, github(hook.secret, body, f.unique("gh")))
    secret = rotated.json()["secret"]
    new = await post(client, hook, body, github(secret, body, f.unique("gh")))

    assert [r.status_code for r in refused] == [403, 403, 403]
    assert "only they or an admin" in refused[0].json()["detail"]
    assert by_admin.status_code == 200, by_admin.text
    assert by_admin.json()["user_id"] == operator.id  # still launches as its owner
    assert rotated.status_code == 200, rotated.text
    assert secret != hook.secret
    assert (old.status_code, new.status_code) == (401, 202)
    assert await audit_trail(engine, rotated) == [("rotate", "trigger")]
    async with engine.connect() as connection:
        audited = await connection.scalar(
            select(AuditLog.after).where(AuditLog.request_id == rotated.headers["x-request-id"])
        )
    assert secret not in json.dumps(audited)
