"""Host roles, infrastructure and applications: create, read, update, delete with rules."""

from __future__ import annotations

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.db.session import session_factory, unit_of_work
from tests import factories as f
from tests.api import Person, audit_trail


async def test_a_host_role_names_an_existing_default_playbook(
    client: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    async with unit_of_work(session_factory(engine)) as session:
        playbook = await f.make_playbook(session)
    name = f.unique("edge")
    created = await client.post(
        "/host-roles",
        json={"name": name, "default_playbook_id": playbook.id, "variables": {"port": 443}},
        headers=operator.headers,
    )
    missing = await client.post(
        "/host-roles",
        json={"name": f.unique("x"), "default_playbook_id": 99999999},
        headers=operator.headers,
    )
    duplicate = await client.post("/host-roles", json={"name": name}, headers=operator.headers)
    renamed = await client.patch(
        f"/host-roles/{created.json()['id']}",
        json={"description": "TLS edge"},
        headers=operator.headers,
    )

    assert created.status_code == 201
    assert created.json()["variables"] == {"port": 443}
    assert missing.status_code == 422
    assert duplicate.status_code == 409
    assert renamed.json()["description"] == "TLS edge"
    assert await audit_trail(engine, renamed) == [("update", "host_role")]


async def test_infrastructure_secrets_are_sealed_and_never_returned(
    client: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    body = {
        "name": f.unique("vpc"),
        "provider": "aws",
        "region": "eu-west-1",
        "config": {"cidr": "10.0.0.0/16"},
        "secrets": {"aws_secret_access_key": "wJalr-MARKER"},
    }
    created = await client.post("/infrastructure", json=body, headers=operator.headers)
    listed = await client.get("/infrastructure", headers=operator.headers)
    cleared = await client.patch(
        f"/infrastructure/{created.json()['id']}", json={"secrets": None}, headers=operator.headers
    )

    assert created.status_code == 201
    assert created.json()["has_secrets"] is True
    assert cleared.json()["has_secrets"] is False
    for answer in (created, listed, cleared):
        assert "MARKER" not in answer.text
    assert await audit_trail(engine, created) == [("create", "infrastructure")]
    assert await audit_trail(engine, cleared) == [("update", "infrastructure")]
    async with engine.connect() as connection:
        audit = (
            (await connection.execute(text("SELECT after_state FROM audit_logs"))).scalars().all()
        )
    assert not any("MARKER" in str(row) for row in audit)


async def test_an_application_in_use_cannot_be_deleted(
    client: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    used = await client.post(
        "/applications",
        json={"name": f.unique("api"), "repo_url": "https://git.example.com/api.git"},
        headers=operator.headers,
    )
    unused = await client.post(
        "/applications", json={"name": f.unique("web")}, headers=operator.headers
    )
    async with unit_of_work(session_factory(engine)) as session:
        await f.make_deployment(session, application_id=used.json()["id"])

    blocked = await client.delete(f"/applications/{used.json()['id']}", headers=operator.headers)
    deleted = await client.delete(f"/applications/{unused.json()['id']}", headers=operator.headers)

    assert blocked.status_code == 409
    assert deleted.status_code == 204
    assert await audit_trail(engine, deleted) == [("delete", "application")]
    moved = await client.patch(
        f"/applications/{used.json()['id']}", json={"repo_url": None}, headers=operator.headers
    )
    assert moved.json()["repo_url"] is None
    assert await audit_trail(engine, moved) == [("update", "application")]
    assert (
        await client.post(
            "/applications", json={"name": "x", "repo_url": "file:///etc"}, headers=operator.headers
        )
    ).status_code == 422


async def test_infrastructure_in_use_cannot_be_deleted(
    client: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    used = await client.post(
        "/infrastructure",
        json={"name": f.unique("k8s"), "provider": "gcp"},
        headers=operator.headers,
    )
    async with unit_of_work(session_factory(engine)) as session:
        await f.make_deployment(session, infrastructure_id=used.json()["id"])
    assert (
        await client.delete(f"/infrastructure/{used.json()['id']}", headers=operator.headers)
    ).status_code == 409
    spare = await client.post(
        "/infrastructure",
        json={"name": f.unique("spare"), "provider": "gcp"},
        headers=operator.headers,
    )
    assert (
        await client.delete(f"/infrastructure/{spare.json()['id']}", headers=operator.headers)
    ).status_code == 204
