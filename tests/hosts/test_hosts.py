"""Hosts over the API: seed 000's inventory checks, the lifecycle, deletion rules."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.audit.models import AuditLog
from opsledger.audit.snapshots import snapshot
from opsledger.db.session import session_factory, unit_of_work
from opsledger.models import Credential, Host
from tests import factories as f
from tests.api import Person, audit_trail, counting


def host_body(**fields: object) -> dict[str, object]:
    return {
        "hostname": f.unique("web").upper() + ".example.com",
        "ip_address": "192.0.2.41",
        "os_type": "debian",
        "os_version": "12",
        "tags": {"tier": "web", "replicas": 3},
        "environment": "staging",
    } | fields


async def create_host(
    client: httpx.AsyncClient, person: Person, **fields: object
) -> dict[str, object]:
    response = await client.post("/hosts", json=host_body(**fields), headers=person.headers)
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


async def test_five_default_roles_exist(
    client: httpx.AsyncClient, viewer: Person, engine: AsyncEngine
) -> None:
    from opsledger.host_roles.service import seed_defaults

    async with unit_of_work(session_factory(engine)) as session:
        await seed_defaults(session)
    response = await client.get("/host-roles", params={"limit": 500}, headers=viewer.headers)
    names = {role["name"] for role in response.json()["items"]}
    assert {"frontend", "redis", "npu-worker", "ai-stack", "browser"} <= names


async def test_a_host_is_created_and_found_by_id_name_and_address(
    client: httpx.AsyncClient, operator: Person, viewer: Person, engine: AsyncEngine
) -> None:
    response = await client.post(
        "/hosts", json=host_body(ip_address="2001:db8::41"), headers=operator.headers
    )
    created = response.json()

    assert response.status_code == 201
    assert created["status"] == "new"
    assert created["is_active"] is True
    assert created["hostname"] == created["hostname"].lower()
    assert created["ssh_port"] == 22
    assert created["ssh_user"] == "root"
    assert await audit_trail(engine, response) == [("create", "host")]
    by_id = await client.get(f"/hosts/{created['id']}", headers=viewer.headers)
    by_ip = await client.get(
        "/hosts", params={"ip_address": "2001:db8::41"}, headers=viewer.headers
    )
    by_name = await client.get(
        "/hosts", params={"hostname": created["hostname"]}, headers=viewer.headers
    )
    assert by_id.json() == created
    assert created["id"] in [host["id"] for host in by_ip.json()["items"]]
    assert [host["id"] for host in by_name.json()["items"]] == [created["id"]]


async def test_filters_by_environment_status_role_activity_and_tag(
    client: httpx.AsyncClient, operator: Person
) -> None:
    environment = f.unique("env")
    tagged = await create_host(client, operator, environment=environment, tags={"tier": "db"})
    await create_host(client, operator, environment=environment, tags={"tier": "web"})

    def ids(response: httpx.Response) -> list[object]:
        return [host["id"] for host in response.json()["items"]]

    query = {"environment": environment}
    assert len(ids(await client.get("/hosts", params=query, headers=operator.headers))) == 2
    db_only = await client.get(
        "/hosts", params=query | {"tag": "tier=db"}, headers=operator.headers
    )
    with_tier = await client.get("/hosts", params=query | {"tag": "tier"}, headers=operator.headers)
    missing = await client.get("/hosts", params=query | {"tag": "rack"}, headers=operator.headers)
    assert ids(db_only) == [tagged["id"]]
    assert len(ids(with_tier)) == 2
    assert ids(missing) == []
    new_ones = await client.get(
        "/hosts", params=query | {"status": "new", "is_active": "true"}, headers=operator.headers
    )
    assert len(ids(new_ones)) == 2
    assert (
        await client.get("/hosts", params={"colour": "blue"}, headers=operator.headers)
    ).status_code == 422
    assert (
        await client.get("/hosts", params={"status": "exploded"}, headers=operator.headers)
    ).status_code == 422


async def test_provisioning_stamps_times_and_failures_keep_their_message(
    client: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    host = await create_host(client, operator)
    url = f"/hosts/{host['id']}/transition"

    provisioning = await client.post(url, json={"status": "provisioning"}, headers=operator.headers)
    failed = await client.post(
        url, json={"status": "failed", "error_message": "ssh: timeout"}, headers=operator.headers
    )
    retried = await client.post(url, json={"status": "provisioning"}, headers=operator.headers)
    deployed = await client.post(url, json={"status": "deployed"}, headers=operator.headers)

    assert [r.status_code for r in (provisioning, failed, retried, deployed)] == [200] * 4
    assert failed.json()["error_message"] == "ssh: timeout"
    assert retried.json()["error_message"] is None
    final = deployed.json()
    assert final["status"] == "deployed"
    assert datetime.fromisoformat(final["provisioned_at"]) >= datetime.fromisoformat(
        provisioning.json()["status_changed_at"]
    )
    assert await audit_trail(engine, deployed) == [("transition", "host")]
    illegal = await client.post(url, json={"status": "new"}, headers=operator.headers)
    assert illegal.status_code == 409
    assert (
        await client.post(url, json={"status": "failed"}, headers=operator.headers)
    ).status_code == 409


async def test_of_two_racing_transitions_exactly_one_wins(
    app: object, operator: Person, engine: AsyncEngine, client: httpx.AsyncClient
) -> None:
    host = await create_host(client, operator)
    url = f"/hosts/{host['id']}/transition"
    answers = await asyncio.gather(
        client.post(url, json={"status": "provisioning"}, headers=operator.headers),
        client.post(url, json={"status": "provisioning"}, headers=operator.headers),
    )
    assert sorted(answer.status_code for answer in answers) == [200, 409]


async def test_soft_delete_deactivates_and_hard_delete_cascades_credentials(
    client: httpx.AsyncClient, operator: Person, admin: Person, engine: AsyncEngine
) -> None:
    host = await create_host(client, operator)
    url = f"/hosts/{host['id']}"
    await client.post(
        f"{url}/credentials",
        json={"type": "ssh_key", "username": "deploy", "value": "k"},
        headers=admin.headers,
    )

    soft = await client.delete(url, headers=operator.headers)
    operator_hard = await client.delete(url, params={"hard": "true"}, headers=operator.headers)
    hard = await client.delete(url, params={"hard": "true"}, headers=admin.headers)

    assert soft.status_code == 204
    assert operator_hard.status_code == 403
    assert hard.status_code == 204
    assert await audit_trail(engine, hard) == [("delete", "host")]
    assert (await client.get(url, headers=admin.headers)).status_code == 404
    async with engine.connect() as connection:
        left = await connection.scalar(
            select(Credential.id).where(Credential.host_id == host["id"])
        )
    assert left is None


async def test_a_host_with_job_history_cannot_be_deleted_for_good(
    client: httpx.AsyncClient, admin: Person, engine: AsyncEngine
) -> None:
    async with unit_of_work(session_factory(engine)) as session:
        job = await f.make_job(session)
        host_id = job.host_id
    response = await client.delete(
        f"/hosts/{host_id}", params={"hard": "true"}, headers=admin.headers
    )
    assert response.status_code == 409
    assert "job history" in response.json()["detail"]
    async with engine.connect() as connection:
        assert await connection.scalar(select(Host.id).where(Host.id == host_id)) == host_id


@pytest.mark.parametrize(
    "fields",
    [
        {"hostname": "bad host"},
        {"hostname": "-leading.example.com"},
        {"ip_address": "300.1.1.1"},
        {"ip_address": "example.com"},
        {"ip_address": 0},  # a number is no address, though ipaddress reads 0 as 0.0.0.0
        {"ip_address": 16777216},
        {"ssh_port": 0},
        {"ssh_port": 70000},
        {"ssh_user": "root; rm -rf /"},
        {"ssh_key_path": "relative/key"},
        {"status": "deployed"},
        {"id": 7},
        {"host_role_id": 99999999},
        {"os_type": ""},
    ],
    ids=lambda fields: "-".join(f"{k}" for k in fields),
)
async def test_bad_hosts_are_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, operator: Person, fields: dict[str, object]
) -> None:
    body = host_body(**fields)
    response = await client.post("/hosts", json=body, headers=operator.headers)
    assert response.status_code == 422
    listed = await client.get(
        "/hosts", params={"hostname": str(body["hostname"]).lower()}, headers=operator.headers
    )
    assert listed.status_code in (200, 422)
    if listed.status_code == 200:
        assert listed.json()["items"] == []


async def test_a_duplicate_hostname_is_409_in_any_case(
    client: httpx.AsyncClient, operator: Person
) -> None:
    host = await create_host(client, operator)
    again = await client.post(
        "/hosts", json=host_body(hostname=str(host["hostname"]).upper()), headers=operator.headers
    )
    assert again.status_code == 409


async def test_updates_change_only_what_is_sent_and_never_null_a_required_field(
    client: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    host = await create_host(client, operator)
    url = f"/hosts/{host['id']}"
    changed = await client.patch(
        url, json={"environment": "production", "os_version": None}, headers=operator.headers
    )
    nulled = await client.patch(url, json={"os_type": None}, headers=operator.headers)
    status = await client.patch(url, json={"status": "deployed"}, headers=operator.headers)

    assert changed.status_code == 200
    assert changed.json()["environment"] == "production"
    assert changed.json()["os_version"] is None
    assert changed.json()["os_type"] == "debian"
    assert await audit_trail(engine, changed) == [("update", "host")]
    assert nulled.status_code == 422
    assert status.status_code == 422


# Names and values a JSON path would have to quote or escape. A name holds no "=": the
# first "=" of ``?tag=`` ends it.
AWKWARD_TAGS = {
    'rack"]': 'a"]',
    "a.b": "x.y",
    "$": "$.x",
    "*": "*",
    "[0]": "[0]",
    "two words": "two words",
    "back\\slash": "back\\slash",
    'quote\\"': '\\"',
    "é 日本": "ü 🚀",
    "k'q": "v=w",
}


async def test_tag_filters_match_any_name_and_value(
    client: httpx.AsyncClient, operator: Person
) -> None:
    environment = f.unique("env")
    tagged = await create_host(
        client,
        operator,
        environment=environment,
        tags=AWKWARD_TAGS | {"replicas": 3, "enabled": True, "ratio": 1.5},
    )
    other = await create_host(
        client,
        operator,
        environment=environment,
        tags={name: f"{value}-other" for name, value in AWKWARD_TAGS.items()}
        | {"replicas": 4, "enabled": False},
    )

    async def matching(tag: str) -> list[object]:
        response = await client.get(
            "/hosts", params={"environment": environment, "tag": tag}, headers=operator.headers
        )
        assert response.status_code == 200, (tag, response.text)
        return [host["id"] for host in response.json()["items"]]

    for name, value in AWKWARD_TAGS.items():
        assert await matching(name) == [tagged["id"], other["id"]], name
        assert await matching(f"{name}={value}") == [tagged["id"]], name
        assert await matching(f"{name}={value}-other") == [other["id"]], name
        assert await matching(f"{name}x") == [], name
    assert await matching("replicas=3") == [tagged["id"]]
    assert await matching("enabled=true") == [tagged["id"]]
    assert await matching("enabled=false") == [other["id"]]
    assert await matching("ratio=1.5") == [tagged["id"]]
    assert await matching("ratio") == [tagged["id"]]


@pytest.mark.parametrize(
    "fields",
    [
        {"description": "nul\x00byte"},
        {"tags": {"k\x00": "v"}},
        {"description": "lone \ud800 surrogate"},
    ],
    ids=["nul", "nul-in-key", "surrogate"],
)
async def test_text_no_backend_can_store_is_422_not_500(
    client: httpx.AsyncClient, operator: Person, fields: dict[str, object]
) -> None:
    content = json.dumps(host_body(**fields))  # escapes them as \\u0000 and \\ud800
    response = await client.post(
        "/hosts", content=content, headers=operator.headers | {"content-type": "application/json"}
    )
    assert response.status_code == 422


async def test_ids_beyond_32_bits_are_422_not_500(
    client: httpx.AsyncClient, operator: Person
) -> None:
    assert (await client.get(f"/hosts/{2**31}", headers=operator.headers)).status_code == 422
    assert (
        await client.get("/hosts", params={"after": 2**40}, headers=operator.headers)
    ).status_code == 422
    assert (
        await client.get("/hosts", params={"hostname": "a\x00b"}, headers=operator.headers)
    ).status_code == 422


async def test_only_an_admin_points_a_host_at_a_key_file(
    client: httpx.AsyncClient, operator: Person, admin: Person
) -> None:
    """A key path names key material on the controller (the service account's own keys,
    say): it is as guarded as a credential."""
    body = host_body(ssh_key_path="/srv/keys/deploy")
    by_operator = await client.post("/hosts", json=body, headers=operator.headers)
    by_admin = await client.post("/hosts", json=body, headers=admin.headers)
    host_id = by_admin.json()["id"]
    moved = await client.patch(
        f"/hosts/{host_id}",
        json={"ssh_key_path": "/root/.ssh/id_ed25519"},
        headers=operator.headers,
    )
    cleared = await client.patch(
        f"/hosts/{host_id}", json={"description": "still fine"}, headers=operator.headers
    )

    assert by_operator.status_code == 403
    assert by_admin.status_code == 201, by_admin.text
    assert moved.status_code == 403
    assert cleared.status_code == 200


async def test_a_created_hosts_audit_row_is_the_host_as_stored_with_nothing_read_back(
    client: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    """The columns a create leaves NULL are known without reading the row back: the
    audit row's after is the host as it is stored, and no SELECT of it follows the
    INSERT."""
    with counting(engine) as statements:
        response = await client.post(
            "/hosts",
            json={
                "hostname": f.unique("bare") + ".example.com",
                "ip_address": "192.0.2.7",
                "os_type": "debian",
            },
            headers=operator.headers,
        )
    assert response.status_code == 201, response.text
    inserted = next(n for n, sql in enumerate(statements) if sql.startswith("INSERT INTO hosts"))
    assert not [sql for sql in statements[inserted:] if "FROM hosts" in sql]
    async with session_factory(engine)() as session:
        stored = await session.get(Host, response.json()["id"])
        after = await session.scalar(
            select(AuditLog.after).where(AuditLog.request_id == response.headers["x-request-id"])
        )
    assert stored is not None
    assert (stored.tags, stored.description) == (None, None)
    assert after == snapshot(stored)
