"""One change to a whole selection of hosts (POST /hosts/bulk): counted first, made to
every host or to none, each host's change audited as if made alone."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests import factories as f
from tests.api import Person, audit_trail
from tests.hosts.test_hosts import create_host


async def selection(client: httpx.AsyncClient, person: Person, count: int) -> str:
    environment = f.unique("bulk")
    for _ in range(count):
        await create_host(client, person, environment=environment, tags={"tier": "web"})
    return environment


async def statuses(client: httpx.AsyncClient, person: Person, environment: str) -> list[str]:
    listed = await client.get("/hosts", params={"environment": environment}, headers=person.headers)
    return [host["status"] for host in listed.json()["items"]]


async def test_a_selection_is_counted_then_moved_along_each_host_audited(
    client: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    environment = await selection(client, operator, 3)
    selector = {"environment": environment}

    counted = await client.post(
        "/hosts/bulk",
        json={"selector": selector, "status": "provisioning", "dry_run": True},
        headers=operator.headers,
    )
    assert counted.status_code == 200, counted.text
    assert counted.json() == {"matched": 3, "changed": []}
    assert await statuses(client, operator, environment) == ["new"] * 3

    moved = await client.post(
        "/hosts/bulk",
        json={"selector": selector, "status": "provisioning", "expected": 3},
        headers=operator.headers,
    )
    assert moved.status_code == 200, moved.text
    assert len(moved.json()["changed"]) == 3
    assert await statuses(client, operator, environment) == ["provisioning"] * 3
    assert await audit_trail(engine, moved) == [("transition", "host")] * 3


async def test_one_host_that_cannot_move_refuses_the_whole_selection(
    client: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    environment = await selection(client, operator, 2)
    late = await create_host(client, operator, environment=environment)
    await client.post(
        f"/hosts/{late['id']}/transition", json={"status": "provisioning"}, headers=operator.headers
    )
    await client.post(
        f"/hosts/{late['id']}/transition", json={"status": "deployed"}, headers=operator.headers
    )

    refused = await client.post(
        "/hosts/bulk",
        json={"selector": {"environment": environment}, "status": "deployed"},
        headers=operator.headers,
    )

    assert refused.status_code == 409, refused.text
    assert sorted(await statuses(client, operator, environment)) == ["deployed", "new", "new"]
    assert await audit_trail(engine, refused) == []


async def test_a_count_that_changed_since_it_was_confirmed_is_refused(
    client: httpx.AsyncClient, operator: Person
) -> None:
    environment = await selection(client, operator, 2)
    body = {"selector": {"environment": environment}, "tag": "patched=yes", "expected": 2}
    await create_host(client, operator, environment=environment)  # one more since

    refused = await client.post("/hosts/bulk", json=body, headers=operator.headers)

    assert refused.status_code == 409
    assert "matches 3 hosts now, not the 2 confirmed" in refused.json()["detail"]


async def test_a_tag_and_a_role_are_set_on_every_selected_host(
    client: httpx.AsyncClient, operator: Person, admin: Person, engine: AsyncEngine
) -> None:
    environment = await selection(client, operator, 2)
    selector = {"environment": environment, "tags": ["tier=web"]}
    role = await client.post(
        "/host-roles", json={"name": f.unique("bulk-role")}, headers=admin.headers
    )
    assert role.status_code == 201, role.text

    tagged = await client.post(
        "/hosts/bulk",
        json={"selector": selector, "tag": "patched=2026-12"},
        headers=operator.headers,
    )
    again = await client.post(
        "/hosts/bulk",
        json={"selector": selector, "tag": "patched=2026-12"},
        headers=operator.headers,
    )
    assigned = await client.post(
        "/hosts/bulk",
        json={"selector": selector, "host_role_id": role.json()["id"]},
        headers=operator.headers,
    )
    cleared = await client.post(
        "/hosts/bulk", json={"selector": selector, "host_role_id": None}, headers=operator.headers
    )

    assert tagged.status_code == assigned.status_code == cleared.status_code == 200
    assert len(tagged.json()["changed"]) == 2
    assert again.json() == {"matched": 2, "changed": []}  # they have it: nothing changed
    assert await audit_trail(engine, again) == []
    listed = await client.get(
        "/hosts", params={"environment": environment}, headers=operator.headers
    )
    for host in listed.json()["items"]:
        assert host["tags"] == {"tier": "web", "patched": "2026-12"}
        assert host["host_role_id"] is None


async def test_a_bulk_change_names_exactly_one_change(
    client: httpx.AsyncClient, operator: Person
) -> None:
    selector = {"environment": f.unique("bulk")}
    for body in (
        {"selector": selector},
        {"selector": selector, "status": "provisioning", "tag": "a=b"},
        {"selector": selector, "status": None},
        {"selector": selector, "tag": "no-value"},
        {"selector": selector, "host_role_id": 999_999_999_999},
    ):
        answer = await client.post("/hosts/bulk", json=body, headers=operator.headers)
        assert answer.status_code == 422, (body, answer.text)
