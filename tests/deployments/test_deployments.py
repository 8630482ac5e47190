"""Deployments (seed 004): validation at the bounds, scaling, status history, soft
deletion with name reuse, ownership."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests import factories as f
from tests.api import Person, audit_trail

RESOURCES = {"cpu_cores": 1.5, "memory_mb": 2048, "gpu_units": 0, "storage_gb": 20}


def body(**fields: object) -> dict[str, object]:
    return {
        "name": f.unique("web"),
        "image": "nginx:1.27",
        "version": "1.27.0",
        "target_replicas": 2,
        "resources": RESOURCES,
    } | fields


async def deploy(client: httpx.AsyncClient, person: Person, **fields: object) -> httpx.Response:
    return await client.post("/deployments", json=body(**fields), headers=person.headers)


async def test_a_deployment_comes_with_resources_replicas_and_history(
    client: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    response = await deploy(client, operator)
    created = response.json()

    assert response.status_code == 201
    assert created["status"] == "pending"
    assert created["user_id"] == operator.id
    assert created["resources"] == RESOURCES
    assert [r["status"] for r in created["replicas"]] == ["pending", "pending"]
    assert [(h["from_status"], h["to_status"], h["reason"]) for h in created["status_history"]] == [
        (None, "pending", "created")
    ]
    assert await audit_trail(engine, response) == [("create", "deployment")]
    fetched = await client.get(f"/deployments/{created['id']}", headers=operator.headers)
    assert fetched.json() == created


IN_BOUNDS = [
    {"name": "a"},
    {"name": "x" * 100},
    {"image": "i" * 500},
    {"target_replicas": 1},
    {"target_replicas": 100},
    {"resources": RESOURCES | {"cpu_cores": 0.5}},
    {"resources": RESOURCES | {"cpu_cores": 32}},
    {"resources": RESOURCES | {"memory_mb": 512}},
    {"resources": RESOURCES | {"memory_mb": 65536}},
    {"resources": RESOURCES | {"gpu_units": 8}},
    {"resources": RESOURCES | {"storage_gb": 1}},
    {"resources": RESOURCES | {"storage_gb": 1000}},
]
OUT_OF_BOUNDS = [
    {"name": ""},
    {"name": "x" * 101},
    {"name": "has space"},
    {"name": "dot.ted"},
    {"image": ""},
    {"image": "i" * 501},
    {"target_replicas": 0},
    {"target_replicas": 101},
    {"resources": RESOURCES | {"cpu_cores": 0.49}},
    {"resources": RESOURCES | {"cpu_cores": 32.01}},
    {"resources": RESOURCES | {"memory_mb": 511}},
    {"resources": RESOURCES | {"memory_mb": 65537}},
    {"resources": RESOURCES | {"gpu_units": -1}},
    {"resources": RESOURCES | {"gpu_units": 9}},
    {"resources": RESOURCES | {"storage_gb": 0}},
    {"resources": RESOURCES | {"storage_gb": 1001}},
    {"status": "running"},
    {"user_id": 1},
]


def label(fields: dict[str, object]) -> str:
    key, value = next(iter(fields.items()))
    if key == "resources" and isinstance(value, dict):
        changed = {k: v for k, v in value.items() if RESOURCES.get(k) != v}
        return ",".join(f"{k}={v}" for k, v in changed.items()) or "resources"
    return f"{key}={str(value)[:12]}"


@pytest.mark.parametrize("fields", IN_BOUNDS, ids=label)
async def test_values_just_inside_seed_004_bounds_are_accepted(
    client: httpx.AsyncClient, operator: Person, fields: dict[str, object]
) -> None:
    # Each test has its own operator, so even a one-letter name is free.
    response = await deploy(client, operator, **fields)
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("fields", OUT_OF_BOUNDS, ids=label)
async def test_values_just_outside_seed_004_bounds_are_422(
    client: httpx.AsyncClient, operator: Person, fields: dict[str, object]
) -> None:
    response = await deploy(client, operator, **fields)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


async def test_scaling_adds_and_stops_replicas(
    client: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    created = (await deploy(client, operator, target_replicas=2)).json()
    url = f"/deployments/{created['id']}/scale"

    up = await client.post(url, json={"target_replicas": 5}, headers=operator.headers)
    down = await client.post(url, json={"target_replicas": 1}, headers=operator.headers)

    assert up.json()["target_replicas"] == 5
    assert sum(r["status"] == "pending" for r in up.json()["replicas"]) == 5
    assert await audit_trail(engine, up) == [("scale", "deployment")]
    statuses = [r["status"] for r in down.json()["replicas"]]
    assert statuses.count("pending") == 1
    assert statuses.count("stopped") == 4
    assert all(r["stopped_at"] for r in down.json()["replicas"] if r["status"] == "stopped")
    assert (
        await client.post(url, json={"target_replicas": 0}, headers=operator.headers)
    ).status_code == 422


async def test_scaling_back_to_the_same_target_after_a_stop_is_audited(
    client: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    created = (await deploy(client, operator, target_replicas=2)).json()
    url = f"/deployments/{created['id']}"
    for status in ("scheduled", "running", "stopped", "scheduled"):  # stopped: none active
        moved = await client.patch(
            f"{url}/status", json={"status": status}, headers=operator.headers
        )
        assert moved.status_code == 200, moved.text

    again = await client.post(f"{url}/scale", json={"target_replicas": 2}, headers=operator.headers)
    same = await client.post(f"{url}/scale", json={"target_replicas": 2}, headers=operator.headers)

    assert sum(r["status"] == "pending" for r in again.json()["replicas"]) == 2
    assert await audit_trail(engine, again) == [("scale", "deployment")]  # replicas added
    assert await audit_trail(engine, same) == []  # nothing to do, nothing recorded


async def test_every_status_change_is_recorded_with_who_and_why(
    client: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    created = (await deploy(client, operator)).json()
    url = f"/deployments/{created['id']}/status"
    scheduled = await client.patch(
        url, json={"status": "scheduled", "reason": "placed"}, headers=operator.headers
    )
    running = await client.patch(url, json={"status": "running"}, headers=operator.headers)
    backwards = await client.patch(url, json={"status": "pending"}, headers=operator.headers)
    deleted_by_status = await client.patch(
        url, json={"status": "deleted"}, headers=operator.headers
    )

    assert scheduled.status_code == running.status_code == 200
    assert backwards.status_code == 409
    assert deleted_by_status.status_code == 422
    history = running.json()["status_history"]
    assert [(h["from_status"], h["to_status"]) for h in history] == [
        (None, "pending"),
        ("pending", "scheduled"),
        ("scheduled", "running"),
    ]
    assert history[1]["reason"] == "placed"
    assert {h["changed_by"] for h in history} == {operator.id}
    assert await audit_trail(engine, running) == [("transition", "deployment")]


async def test_racing_status_changes_let_exactly_one_win(
    client: httpx.AsyncClient, operator: Person
) -> None:
    created = (await deploy(client, operator)).json()
    url = f"/deployments/{created['id']}/status"
    answers = await asyncio.gather(
        *(
            client.patch(url, json={"status": "scheduled"}, headers=operator.headers)
            for _ in range(2)
        )
    )
    assert sorted(answer.status_code for answer in answers) == [200, 409]


async def test_soft_delete_frees_the_name_and_hides_the_deployment(
    client: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    name = f.unique("api")
    first = (await deploy(client, operator, name=name)).json()
    duplicate = await deploy(client, operator, name=name)
    deleted = await client.delete(f"/deployments/{first['id']}", headers=operator.headers)
    reused = await deploy(client, operator, name=name)

    assert duplicate.status_code == 409
    assert deleted.status_code == 204
    assert await audit_trail(engine, deleted) == [("delete", "deployment")]
    assert reused.status_code == 201
    live = await client.get("/deployments", params={"name": name}, headers=operator.headers)
    everything = await client.get(
        "/deployments", params={"name": name, "include_deleted": "true"}, headers=operator.headers
    )
    assert [d["id"] for d in live.json()["items"]] == [reused.json()["id"]]
    assert len(everything.json()["items"]) == 2
    gone = (await client.get(f"/deployments/{first['id']}", headers=operator.headers)).json()
    assert gone["status"] == "deleted"
    assert gone["deleted_at"] is not None
    assert all(r["status"] == "stopped" for r in gone["replicas"])
    assert (
        await client.delete(f"/deployments/{first['id']}", headers=operator.headers)
    ).status_code == 409
    assert (
        await client.post(
            f"/deployments/{first['id']}/scale",
            json={"target_replicas": 3},
            headers=operator.headers,
        )
    ).status_code == 409


async def test_other_users_deployments_are_invisible_but_admins_see_them(
    client: httpx.AsyncClient, operator: Person, viewer: Person, admin: Person
) -> None:
    created = (await deploy(client, operator)).json()
    url = f"/deployments/{created['id']}"
    assert (await client.get(url, headers=viewer.headers)).status_code == 404
    assert created["id"] not in [
        d["id"] for d in (await client.get("/deployments", headers=viewer.headers)).json()["items"]
    ]
    assert (await client.get(url, headers=admin.headers)).status_code == 200
    mine = await client.get("/deployments", params={"user_id": operator.id}, headers=admin.headers)
    assert created["id"] in [d["id"] for d in mine.json()["items"]]
