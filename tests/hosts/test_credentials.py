"""Host credentials: admins only, encrypted at rest, decrypted only for a run, rotated and
deactivated by type."""

from __future__ import annotations

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.credentials import repository
from opsledger.credentials.models import CredentialType
from opsledger.db.session import session_factory, unit_of_work
from tests.api import Person, audit_trail
from tests.hosts.test_hosts import create_host

KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"


async def add(
    client: httpx.AsyncClient, admin: Person, host_id: object, **fields: object
) -> httpx.Response:
    body = {"type": "ssh_key", "username": "deploy", "value": KEY} | fields
    return await client.post(f"/hosts/{host_id}/credentials", json=body, headers=admin.headers)


async def test_ssh_keys_and_passwords_are_encrypted_at_rest_and_decrypted_for_a_run(
    client: httpx.AsyncClient, admin: Person, engine: AsyncEngine
) -> None:
    host = await create_host(client, admin)
    key = await add(client, admin, host["id"])
    password = await add(client, admin, host["id"], type="password", value="hunter2-hunter2")

    assert key.status_code == password.status_code == 201
    assert "value" not in key.json()
    assert KEY not in key.text
    assert await audit_trail(engine, key) == [("create", "credential")]
    async with engine.connect() as connection:
        raw = (
            (
                await connection.execute(
                    text(f"SELECT value FROM credentials WHERE host_id = {host['id']}")
                )
            )
            .scalars()
            .all()
        )
    assert all(value.startswith("gAAAAA") for value in raw)
    async with unit_of_work(session_factory(engine)) as session:
        host_id = int(str(host["id"]))
        ssh_key = (await repository.active_of_type(session, [host_id], CredentialType.ssh_key))[
            host_id
        ]
        secret = (await repository.active_of_type(session, [host_id], CredentialType.password))[
            host_id
        ]
    assert ssh_key.value == KEY
    assert secret.value == "hunter2-hunter2"


async def test_deactivating_by_type_touches_only_that_type(
    client: httpx.AsyncClient, admin: Person, engine: AsyncEngine
) -> None:
    host = await create_host(client, admin)
    for _ in range(2):
        await add(client, admin, host["id"])
    await add(client, admin, host["id"], type="token", value="t0k3n")
    url = f"/hosts/{host['id']}/credentials"

    response = await client.post(
        f"{url}/deactivate", params={"type": "ssh_key"}, headers=admin.headers
    )
    again = await client.post(
        f"{url}/deactivate", params={"type": "ssh_key"}, headers=admin.headers
    )

    assert response.json() == {"deactivated": 2}
    assert again.json() == {"deactivated": 0}
    assert await audit_trail(engine, response) == [("deactivate", "credential")]
    active = (await client.get(url, params={"is_active": "true"}, headers=admin.headers)).json()[
        "items"
    ]
    assert [c["type"] for c in active] == ["token"]
    assert (
        await client.post(f"{url}/deactivate", params={"type": "rsa"}, headers=admin.headers)
    ).status_code == 422


async def test_rotation_replaces_the_credential_and_keeps_the_old_one_on_record(
    client: httpx.AsyncClient, admin: Person, engine: AsyncEngine
) -> None:
    host = await create_host(client, admin)
    old = (await add(client, admin, host["id"])).json()
    url = f"/hosts/{host['id']}/credentials"

    rotated = await client.post(
        f"{url}/{old['id']}/rotate", json={"value": "new-key"}, headers=admin.headers
    )
    twice = await client.post(
        f"{url}/{old['id']}/rotate", json={"value": "newer"}, headers=admin.headers
    )

    assert rotated.status_code == 201
    assert rotated.json()["is_active"] is True
    assert rotated.json()["id"] != old["id"]
    assert twice.status_code == 409
    assert await audit_trail(engine, rotated) == [
        ("update", "credential"),
        ("create", "credential"),
    ]
    listed = {c["id"]: c for c in (await client.get(url, headers=admin.headers)).json()["items"]}
    assert listed[old["id"]]["is_active"] is False
    assert listed[old["id"]]["rotated_at"] is not None


async def test_operators_cannot_see_or_add_credentials(
    client: httpx.AsyncClient, operator: Person
) -> None:
    host = await create_host(client, operator)
    assert (await add(client, operator, host["id"])).status_code == 403
    assert (
        await client.get(f"/hosts/{host['id']}/credentials", headers=operator.headers)
    ).status_code == 403


async def test_credentials_of_a_missing_host_are_404(
    client: httpx.AsyncClient, admin: Person
) -> None:
    assert (await add(client, admin, 99999999)).status_code == 404
    assert (
        await client.get("/hosts/99999999/credentials", headers=admin.headers)
    ).status_code == 404
    assert (
        await client.post(
            "/hosts/1/credentials/99999999/rotate", json={"value": "v"}, headers=admin.headers
        )
    ).status_code == 404
