"""Jobs over the API: queueing, the status machine for cancel, listing, and log pages."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.db.session import session_factory, unit_of_work
from opsledger.jobs.schemas import LogPage
from opsledger.models import Host, Playbook
from opsledger.worker.ingest import LogWriter
from tests import factories as f
from tests.api import Person, audit_trail


async def runnable(engine: AsyncEngine) -> tuple[int, int]:
    async with unit_of_work(session_factory(engine)) as session:
        return (await f.make_playbook(session)).id, (await f.make_host(session)).id


async def test_a_job_is_queued_pending_and_audited(
    client: httpx.AsyncClient, operator: Person, viewer: Person, engine: AsyncEngine
) -> None:
    playbook_id, host_id = await runnable(engine)
    body = {"playbook_id": playbook_id, "host_id": host_id, "extra_vars": {"version": "1.2.3"}}
    response = await client.post("/jobs", json=body, headers=operator.headers)
    job = response.json()

    assert response.status_code == 202
    assert job["status"] == "pending"
    assert job["user_id"] == operator.id
    assert len(job["uuid"]) == 36
    assert await audit_trail(engine, response) == [("create", "job")]
    assert (await client.post("/jobs", json=body, headers=viewer.headers)).status_code == 403
    listed = await client.get(
        "/jobs", params={"host_id": host_id, "status": "pending"}, headers=viewer.headers
    )
    assert [j["id"] for j in listed.json()["items"]] == [job["id"]]


async def test_only_active_playbooks_and_hosts_in_service_can_be_run(
    client: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    playbook_id, host_id = await runnable(engine)
    async with engine.begin() as connection:
        await connection.execute(
            update(Playbook).where(Playbook.id == playbook_id).values(is_active=False)
        )
    inactive = await client.post(
        "/jobs", json={"playbook_id": playbook_id, "host_id": host_id}, headers=operator.headers
    )
    playbook_id, host_id = await runnable(engine)
    async with engine.begin() as connection:
        await connection.execute(
            update(Host).where(Host.id == host_id).values(status="decommissioned")
        )
    decommissioned = await client.post(
        "/jobs", json={"playbook_id": playbook_id, "host_id": host_id}, headers=operator.headers
    )
    missing = await client.post(
        "/jobs", json={"playbook_id": playbook_id, "host_id": 99999999}, headers=operator.headers
    )

    assert inactive.status_code == decommissioned.status_code == missing.status_code == 422


async def test_cancel_works_once_and_races_have_one_winner(
    client: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    playbook_id, host_id = await runnable(engine)
    job = (
        await client.post(
            "/jobs", json={"playbook_id": playbook_id, "host_id": host_id}, headers=operator.headers
        )
    ).json()
    url = f"/jobs/{job['id']}/cancel"

    answers = await asyncio.gather(*(client.post(url, headers=operator.headers) for _ in range(2)))

    assert sorted(a.status_code for a in answers) == [200, 409]
    winner = next(a for a in answers if a.status_code == 200)
    assert winner.json()["status"] == "cancelled"
    assert winner.json()["completed_at"] is not None
    assert await audit_trail(engine, winner) == [("cancel", "job")]


async def test_log_pages_follow_line_numbers(
    client: httpx.AsyncClient, viewer: Person, engine: AsyncEngine
) -> None:
    async with unit_of_work(session_factory(engine)) as session:
        job = await f.make_job(session)
    writer = LogWriter(engine, job.id, job.created_at)
    await writer.write_many(f"TASK [{n}]" for n in range(1, 1201))
    await writer.close()
    url = f"/jobs/{job.id}/logs"

    first = (await client.get(url, params={"limit": 500}, headers=viewer.headers)).json()
    deep = (
        await client.get(url, params={"after": 1000, "limit": 500}, headers=viewer.headers)
    ).json()
    end = (await client.get(url, params={"after": 1200}, headers=viewer.headers)).json()
    # The page is written without the schema's serializer; it writes what that would.
    written = (await client.get(url, params={"limit": 3}, headers=viewer.headers)).content

    assert [line["line_number"] for line in first["items"]] == list(range(1, 501))
    assert first["next_cursor"] == 500
    assert [line["content"] for line in deep["items"]] == [f"TASK [{n}]" for n in range(1001, 1201)]
    assert end == {"items": [], "next_cursor": None}
    assert written == LogPage.model_validate_json(written).model_dump_json().encode()
    assert (
        await client.get(url, params={"limit": 5001}, headers=viewer.headers)
    ).status_code == 422
    assert (await client.get("/jobs/99999999/logs", headers=viewer.headers)).status_code == 404
