"""API keys: shown once, stored as a hash, checked on every use, private to their owner."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.models import ApiKey
from tests.api import Person


async def create_key(
    client: httpx.AsyncClient, person: Person, **fields: object
) -> dict[str, object]:
    response = await client.post("/api-keys", json={"name": "ci"} | fields, headers=person.headers)
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


async def test_the_key_is_shown_once_and_only_its_hash_is_stored(
    client: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    created = await create_key(client, operator)
    key = str(created["key"])

    assert key.startswith(f"olk_{created['prefix']}_")
    async with engine.connect() as connection:
        raw_rows = (await connection.execute(text("SELECT * FROM api_keys"))).all()
    stored = " ".join(str(value) for row in raw_rows for value in row)
    assert key not in stored
    assert hashlib.sha256(key.encode()).hexdigest() in stored
    listed = await client.get("/api-keys", headers=operator.headers)
    read = await client.get(f"/api-keys/{created['id']}", headers=operator.headers)
    assert key not in listed.text + read.text
    assert "key_hash" not in listed.text + read.text


@pytest.mark.parametrize("header", ["authorization", "x-api-key"])
async def test_a_key_authenticates_in_either_header(
    client: httpx.AsyncClient, operator: Person, header: str
) -> None:
    key = str((await create_key(client, operator))["key"])
    headers = (
        {"Authorization": f"Bearer {key}"} if header == "authorization" else {"X-API-Key": key}
    )
    response = await client.get("/users/me", headers=headers)
    assert response.status_code == 200
    assert response.json()["username"] == operator.username


async def test_revoked_expired_and_wrong_keys_are_401(
    client: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    revoked = await create_key(client, operator)
    expiring = await create_key(client, operator)
    assert (
        await client.delete(f"/api-keys/{revoked['id']}", headers=operator.headers)
    ).status_code == 200
    async with engine.begin() as connection:
        await connection.execute(
            update(ApiKey)
            .where(ApiKey.id == expiring["id"])
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    good = str((await create_key(client, operator))["key"])
    tampered = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")

    for key in (str(revoked["key"]), str(expiring["key"]), tampered, "olk_nothing_here"):
        assert (await client.get("/users/me", headers={"X-API-Key": key})).status_code == 401


async def test_last_used_is_written_at_most_once_a_minute(
    client: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    created = await create_key(client, operator)
    headers = {"X-API-Key": str(created["key"])}

    async def last_used() -> datetime | None:
        async with engine.connect() as connection:
            return await connection.scalar(
                select(ApiKey.last_used_at).where(ApiKey.id == created["id"])
            )

    assert await last_used() is None
    await client.get("/users/me", headers=headers)
    first = await last_used()
    await client.get("/users/me", headers=headers)
    assert first is not None
    assert await last_used() == first


async def test_another_users_key_is_invisible_but_an_admin_sees_it(
    client: httpx.AsyncClient, operator: Person, viewer: Person, admin: Person
) -> None:
    created = await create_key(client, operator)
    url = f"/api-keys/{created['id']}"

    assert (await client.get(url, headers=viewer.headers)).status_code == 404
    assert (await client.delete(url, headers=viewer.headers)).status_code == 404
    viewer_list = (await client.get("/api-keys", headers=viewer.headers)).json()["items"]
    assert created["id"] not in [item["id"] for item in viewer_list]
    assert (await client.get(url, headers=admin.headers)).status_code == 200
    assert (await client.delete(url, headers=admin.headers)).json()["revoked_at"] is not None
    assert (await client.delete(url, headers=admin.headers)).status_code == 409


async def test_a_scoped_key_can_do_only_its_scopes(
    client: httpx.AsyncClient, operator: Person
) -> None:
    created = await create_key(client, operator, scopes=["hosts:read"])
    headers = {"X-API-Key": str(created["key"])}
    assert (await client.get("/users/me", headers=headers)).status_code == 403


async def test_a_scoped_key_mints_only_narrower_keys(
    client: httpx.AsyncClient, operator: Person
) -> None:
    """The escalation the review found: a key scoped to api_keys:manage minted an unscoped
    key, which then created hosts."""
    manager = await create_key(client, operator, scopes=["api_keys:manage", "hosts:read"])
    as_manager = {"X-API-Key": str(manager["key"])}

    unscoped = await client.post("/api-keys", json={"name": "all"}, headers=as_manager)
    wider = await client.post(
        "/api-keys", json={"name": "w", "scopes": ["hosts:write"]}, headers=as_manager
    )
    narrower = await client.post(
        "/api-keys", json={"name": "n", "scopes": ["hosts:read"]}, headers=as_manager
    )
    host = {"hostname": "minted.test", "ip_address": "10.9.9.9", "os_type": "linux"}
    as_narrower = {"X-API-Key": narrower.json()["key"]}

    assert unscoped.status_code == 403, unscoped.text
    assert unscoped.headers["content-type"] == "application/problem+json"
    assert "hosts:write" in unscoped.json()["detail"]
    assert wider.status_code == 403
    assert narrower.status_code == 201, narrower.text
    assert narrower.json()["scopes"] == ["hosts:read"]
    assert (await client.post("/hosts", json=host, headers=as_narrower)).status_code == 403
    listed = await client.get("/api-keys?limit=100", headers=operator.headers)
    assert {key["name"] for key in listed.json()["items"]} == {"ci", "n"}


async def test_a_key_never_mints_a_key_that_outlives_it(
    client: httpx.AsyncClient, operator: Person
) -> None:
    """Review 2: a five-minute key minted one that never expired, then revoked itself."""
    soon = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    later = (datetime.now(UTC) + timedelta(days=5)).isoformat()
    parent = await create_key(client, operator, scopes=["api_keys:manage"], expires_at=soon)
    headers = {"X-API-Key": str(parent["key"])}

    async def mint(**fields: object) -> int:
        body = {"name": "child", "scopes": ["api_keys:manage"]} | fields
        return (await client.post("/api-keys", json=body, headers=headers)).status_code

    assert await mint() == 403
    assert await mint(expires_at=later) == 403
    assert await mint(expires_at=soon) == 201


async def test_a_key_revokes_only_keys_no_wider_than_itself(
    client: httpx.AsyncClient, operator: Person
) -> None:
    reader = await create_key(client, operator, scopes=["hosts:read"])
    narrow = await create_key(client, operator, scopes=["api_keys:manage"])
    manager = await create_key(client, operator, scopes=["api_keys:manage", "hosts:read"])
    unscoped = await create_key(client, operator)

    async def revoke(target: dict[str, object], by: dict[str, object]) -> int:
        response = await client.delete(
            f"/api-keys/{target['id']}", headers={"X-API-Key": str(by["key"])}
        )
        return response.status_code

    assert await revoke(reader, reader) == 403  # no api_keys:manage at all
    assert await revoke(unscoped, narrow) == 403  # the review's case: wider than itself
    assert await revoke(unscoped, manager) == 403
    assert await revoke(reader, manager) == 200
    assert await revoke(manager, manager) == 200  # itself
    assert (
        await client.delete(f"/api-keys/{unscoped['id']}", headers=operator.headers)
    ).status_code == 200


@pytest.mark.parametrize(
    "fields",
    [
        {"scopes": ["users:write"]},
        {"scopes": []},
        {"scopes": ["no:such-action"]},
        {"expires_at": "2000-01-01T00:00:00Z"},
        {"expires_at": "2100-01-01T00:00:00"},
        {"user_id": 1},
        {"key_hash": "0" * 64},
        {"name": ""},
    ],
    ids=[
        "beyond-role",
        "empty-scopes",
        "unknown-scope",
        "past-expiry",
        "naive-expiry",
        "user_id",
        "key_hash",
        "empty-name",
    ],
)
async def test_bad_key_requests_are_422(
    client: httpx.AsyncClient, operator: Person, fields: dict[str, object]
) -> None:
    response = await client.post(
        "/api-keys", json={"name": "ci"} | fields, headers=operator.headers
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
