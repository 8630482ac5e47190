"""Tickets: SLA due dates, the status path, overdue lists, and the failed-job ticket."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.config import Settings
from opsledger.db.session import session_factory, unit_of_work
from opsledger.models import Ticket
from opsledger.security.context import cli_context
from opsledger.tickets import service
from tests import factories as f
from tests.api import Person, audit_trail

SLA = {"critical": 4, "high": 24, "medium": 72, "low": 168}


async def a_job(engine: AsyncEngine, environment: str | None = None) -> int:
    async with unit_of_work(session_factory(engine)) as session:
        host = await f.make_host(session, environment=environment)
        return (await f.make_job(session, host_id=host.id)).id


async def open_ticket(
    client: httpx.AsyncClient, person: Person, job_id: int, **fields: object
) -> httpx.Response:
    body = {"job_id": job_id, "title": "disk full on web-1", "priority": "high"} | fields
    return await client.post("/tickets", json=body, headers=person.headers)


@pytest.mark.parametrize("priority", list(SLA))
async def test_the_due_date_follows_the_priority(
    client: httpx.AsyncClient, operator: Person, engine: AsyncEngine, priority: str
) -> None:
    response = await open_ticket(client, operator, await a_job(engine), priority=priority)
    ticket = response.json()

    assert response.status_code == 201
    assert ticket["status"] == "open"
    assert ticket["created_by"] == operator.id
    due = datetime.fromisoformat(ticket["due_at"]) - datetime.fromisoformat(ticket["created_at"])
    assert due == timedelta(hours=SLA[priority])
    assert await audit_trail(engine, response) == [("create", "ticket")]


async def test_the_status_path_stamps_resolution_and_allows_reopening(
    client: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    ticket = (await open_ticket(client, operator, await a_job(engine))).json()
    url = f"/tickets/{ticket['id']}/transition"

    async def to(status: str) -> httpx.Response:
        return await client.post(url, json={"status": status}, headers=operator.headers)

    assert (await to("resolved")).status_code == 409
    assert (await to("in_progress")).status_code == 200
    resolved = await to("resolved")
    assert resolved.json()["resolved_at"] is not None
    assert await audit_trail(engine, resolved) == [("transition", "ticket")]
    reopened = await to("open")
    assert reopened.json()["resolved_at"] is None
    await to("in_progress")
    await to("resolved")
    assert (await to("closed")).status_code == 200
    assert (await to("open")).status_code == 409


async def test_racing_transitions_of_one_ticket_let_one_win(
    client: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    ticket = (await open_ticket(client, operator, await a_job(engine))).json()
    url = f"/tickets/{ticket['id']}/transition"
    answers = await asyncio.gather(
        *(
            client.post(url, json={"status": "in_progress"}, headers=operator.headers)
            for _ in range(2)
        )
    )
    assert sorted(answer.status_code for answer in answers) == [200, 409]


async def test_overdue_lists_only_unfinished_tickets_past_due(
    client: httpx.AsyncClient, operator: Person, viewer: Person, engine: AsyncEngine
) -> None:
    job_id = await a_job(engine)
    late = (await open_ticket(client, operator, job_id)).json()
    late_but_closed = (await open_ticket(client, operator, job_id)).json()
    on_time = (await open_ticket(client, operator, job_id)).json()
    async with engine.begin() as connection:
        past = datetime.fromisoformat(late["created_at"]) - timedelta(days=1)
        await connection.execute(
            update(Ticket)
            .where(Ticket.id.in_([late["id"], late_but_closed["id"]]))
            .values(due_at=past)
        )
        await connection.execute(
            update(Ticket).where(Ticket.id == late_but_closed["id"]).values(status="closed")
        )

    listed = await client.get(
        "/tickets", params={"overdue": "true", "job_id": job_id}, headers=viewer.headers
    )

    assert [t["id"] for t in listed.json()["items"]] == [late["id"]]
    assert on_time["id"] not in [t["id"] for t in listed.json()["items"]]


async def test_changing_priority_moves_the_due_date(
    client: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    ticket = (await open_ticket(client, operator, await a_job(engine), priority="low")).json()
    response = await client.patch(
        f"/tickets/{ticket['id']}", json={"priority": "critical"}, headers=operator.headers
    )
    due = datetime.fromisoformat(response.json()["due_at"]) - datetime.fromisoformat(
        ticket["created_at"]
    )
    assert due == timedelta(hours=4)
    assert await audit_trail(engine, response) == [("update", "ticket")]


async def test_bad_tickets_are_422(
    client: httpx.AsyncClient, operator: Person, viewer: Person, engine: AsyncEngine
) -> None:
    job_id = await a_job(engine)
    assert (await open_ticket(client, operator, 99999999)).status_code == 422
    assert (await open_ticket(client, operator, job_id, priority="urgent")).status_code == 422
    assert (await open_ticket(client, operator, job_id, status="closed")).status_code == 422
    assert (await open_ticket(client, operator, job_id, title="")).status_code == 422
    assert (await open_ticket(client, viewer, job_id)).status_code == 403


@pytest.mark.parametrize(
    ("environment", "priority"),
    [("production", "high"), ("Staging", "medium"), ("dev", "low"), (None, "low")],
)
async def test_a_failed_job_opens_a_ticket_with_its_last_lines(
    engine: AsyncEngine, environment: str | None, priority: str
) -> None:
    job_id = await a_job(engine, environment)
    lines = [f"line {n}" for n in range(1, 31)]
    async with unit_of_work(session_factory(engine)) as session:
        user = await f.make_user(session)
        ctx = cli_context(session, Settings())
        ticket = await service.open_for_failed_job(
            ctx, job_id, user.id, "site.yml", "web-1", environment, lines
        )
    assert ticket.priority == priority
    assert ticket.title == f"Job {job_id} failed: site.yml on web-1"
    assert ticket.description is not None
    assert "line 11" in ticket.description
    assert "line 10\n" not in ticket.description
    assert ticket.created_by == user.id


async def test_huge_last_lines_still_fit_every_backend(engine: AsyncEngine) -> None:
    """One 100 kB line (a task's whole stdout) would overflow MariaDB's TEXT; each line
    is cut so the ticket, and the job's end with it, is always written."""
    job_id = await a_job(engine, None)
    async with unit_of_work(session_factory(engine)) as session:
        user = await f.make_user(session)
        ctx = cli_context(session, Settings())
        ticket = await service.open_for_failed_job(
            ctx, job_id, user.id, "site.yml", "web-1", None, ["x" * 100_000] * 20
        )
    assert ticket.description is not None
    assert len(ticket.description.encode()) < 65_535
    assert ticket.description.splitlines()[1].endswith(" …")
