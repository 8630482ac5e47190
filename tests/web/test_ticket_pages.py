"""Tickets from the console over real HTTP: opened by hand on a job (refused beside its
field, as typed), read on their own page, their title, description and priority changed
(a new priority moves the due date), moved along; each audited. A viewer reads a ticket
but gets no form."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.db.session import session_factory, unit_of_work
from opsledger.models import Ticket
from tests import factories as f
from tests.api import Person, audit_trail
from tests.web.pages import form_token, sign_in


async def test_an_operator_opens_changes_and_moves_a_ticket(
    browser: httpx.AsyncClient, client: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    async with unit_of_work(session_factory(engine)) as session:
        job = await f.make_job(session)
    await sign_in(browser, operator)
    job_page = await browser.get(f"/jobs/{job.id}")
    form = await browser.get(f"/tickets/new?job_id={job.id}")
    typed = {"csrf_token": form_token(form.text), "job_id": str(job.id),
             "title": "restart <nginx>", "description": "502s", "priority": "low"}  # fmt: skip

    untitled = await browser.post("/tickets", data=typed | {"title": ""})
    no_job = await browser.post("/tickets", data=typed | {"job_id": "99999999999"})
    opened = await browser.post("/tickets", data=typed)
    assert opened.status_code == 303, opened.text
    page = opened.headers["location"]
    before = (await client.get(page, headers=operator.headers)).json()
    changed = await browser.post(page, data=typed | {"priority": "critical", "title": "now"})
    after = (await client.get(page, headers=operator.headers)).json()
    moved = await browser.post(
        f"{page}/status",
        data={"csrf_token": typed["csrf_token"], "status": "in_progress", "back": "ticket"},
    )
    shown = await browser.get(page)
    asked = await browser.get("/tickets/new")

    assert f'href="/tickets/new?job_id={job.id}"' in job_page.text
    assert 'name="job_id"' in asked.text  # without a job, the page asks which
    assert untitled.status_code == 422
    assert "502s</textarea>" in untitled.text and 'id="title-error"' in untitled.text  # noqa: PT018
    assert no_job.status_code == 404
    assert (after["title"], after["priority"]) == ("now", "critical")
    assert after["due_at"] < before["due_at"]  # a critical ticket is due sooner
    assert moved.status_code == 303
    assert moved.headers["location"] == page
    assert '<span class="status">in_progress</span>' in shown.text
    assert await audit_trail(engine, opened) == [("create", "ticket")]
    assert await audit_trail(engine, changed) == [("update", "ticket")]
    assert await audit_trail(engine, untitled) == []


async def test_a_viewer_reads_a_ticket_but_changes_nothing(
    browser: httpx.AsyncClient, viewer: Person, engine: AsyncEngine
) -> None:
    async with unit_of_work(session_factory(engine)) as session:
        ticket = await f.make_ticket(session)
    await sign_in(browser, viewer)
    page = await browser.get(f"/tickets/{ticket.id}")
    assert page.status_code == 200
    assert ticket.title in page.text
    assert "Save ticket" not in page.text and "Move to" not in page.text  # noqa: PT018
    assert (await browser.get(f"/tickets/new?job_id={ticket.job_id}")).status_code == 403


async def test_a_tickets_title_changed_alone_keeps_its_due_date_and_overdue_notice(
    browser: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    noticed = datetime(2026, 1, 2, tzinfo=UTC)
    async with unit_of_work(session_factory(engine)) as session:
        ticket = await f.make_ticket(session, priority="high", overdue_notified_at=noticed)
        due = ticket.due_at
    await sign_in(browser, operator)
    page = f"/tickets/{ticket.id}"
    token = form_token((await browser.get(page)).text)

    renamed = await browser.post(
        page, data={"csrf_token": token, "title": "renamed", "priority": "high"}
    )

    assert renamed.status_code == 303
    async with unit_of_work(session_factory(engine)) as session:
        after = await session.get(Ticket, ticket.id)
        assert after is not None
        assert (after.title, after.due_at, after.overdue_notified_at) == ("renamed", due, noticed)
