"""Secrets: encrypted at rest, never in a listing, a log line or an audit row; revealed
only to their owner or an admin, and every reveal is audited."""

from __future__ import annotations

import logging

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.db.session import session_factory, unit_of_work
from opsledger.models import AuditLog
from opsledger.users.models import UserRole
from tests import factories as f
from tests.api import Person, make_person

MARKER = "MARKER-7f3c-do-not-leak"


async def create_secret(
    client: httpx.AsyncClient, person: Person, value: str = MARKER
) -> dict[str, object]:
    body = {"service_name": "aws", "key_name": f.unique("access-key"), "value": value}
    response = await client.post("/secrets", json=body, headers=person.headers)
    assert response.status_code == 201, response.text
    created: dict[str, object] = response.json()
    return created


async def test_a_marker_secret_never_leaks_anywhere(
    client: httpx.AsyncClient,
    operator: Person,
    admin: Person,
    engine: AsyncEngine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with unit_of_work(session_factory(engine)) as session:
        await f.make_credential(session, await f.make_host(session), value=MARKER)

    created = await create_secret(client, operator)
    url = f"/secrets/{created['id']}"
    answers = [
        await client.get("/secrets", headers=operator.headers),
        await client.get(url, headers=operator.headers),
        await client.patch(url, json={"value": MARKER + "-2"}, headers=operator.headers),
        await client.get("/audit", params={"limit": 500}, headers=admin.headers),
        await client.post(
            "/secrets", json={"service_name": "x", "value": MARKER}, headers=operator.headers
        ),
    ]

    for answer in answers:
        assert answer.status_code < 500
        assert MARKER not in answer.text
    assert MARKER not in caplog.text
    async with engine.connect() as connection:
        audit_rows = (await connection.execute(select(AuditLog))).all()
        raw_secrets = (await connection.execute(text("SELECT value FROM secrets"))).scalars().all()
        raw_credentials = (
            (await connection.execute(text("SELECT value FROM credentials"))).scalars().all()
        )
    assert MARKER not in " ".join(str(row) for row in audit_rows)
    assert all(value.startswith("gAAAAA") for value in [*raw_secrets, *raw_credentials])
    assert not any(MARKER in value for value in [*raw_secrets, *raw_credentials])


async def test_the_owner_reveals_and_the_reveal_is_audited(
    client: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    created = await create_secret(client, operator, value="s3cr3t-value")
    response = await client.post(f"/secrets/{created['id']}/reveal", headers=operator.headers)

    assert response.status_code == 200
    assert response.json() == {"id": created["id"], "value": "s3cr3t-value"}
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                select(AuditLog.action, AuditLog.resource_id, AuditLog.user_name).where(
                    AuditLog.request_id == response.headers["x-request-id"]
                )
            )
        ).one()
    assert tuple(row) == ("reveal", created["id"], operator.username)


async def test_other_users_secrets_are_404_and_admins_see_them(
    client: httpx.AsyncClient, operator: Person, admin: Person, engine: AsyncEngine
) -> None:
    other = await make_person(engine, UserRole.operator)
    created = await create_secret(client, operator)
    url = f"/secrets/{created['id']}"

    for request in (
        client.get(url, headers=other.headers),
        client.post(f"{url}/reveal", headers=other.headers),
        client.patch(url, json={"value": "overwritten"}, headers=other.headers),
        client.delete(url, headers=other.headers),
    ):
        assert (await request).status_code == 404
    other_list = (await client.get("/secrets", headers=other.headers)).json()["items"]
    assert created["id"] not in [item["id"] for item in other_list]
    assert (await client.post(f"{url}/reveal", headers=admin.headers)).json()["value"] == MARKER
    assert (await client.delete(url, headers=admin.headers)).status_code == 204
    assert (await client.get(url, headers=admin.headers)).status_code == 404


async def test_a_viewer_may_not_hold_secrets(client: httpx.AsyncClient, viewer: Person) -> None:
    body = {"service_name": "aws", "key_name": "k", "value": "v"}
    assert (await client.post("/secrets", json=body, headers=viewer.headers)).status_code == 403


async def test_the_same_service_and_key_twice_is_409(
    client: httpx.AsyncClient, operator: Person
) -> None:
    body = {"service_name": "gcp", "key_name": f.unique("k"), "value": "v"}
    assert (await client.post("/secrets", json=body, headers=operator.headers)).status_code == 201
    assert (await client.post("/secrets", json=body, headers=operator.headers)).status_code == 409
