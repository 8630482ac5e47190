"""Console pages for tickets: the list with its SLA (due, overdue), one opened by hand on
a job, a ticket's page where its title, description and priority change, and moving a
ticket along its status machine."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form, Query, Request
from fastapi.responses import Response
from pydantic import Field as PydanticField

from opsledger.db.base import utcnow
from opsledger.db.dependencies import PrimaryReadSession, WriteSession
from opsledger.jobs import service as jobs
from opsledger.jobs.models import Job
from opsledger.kit.http import PathId
from opsledger.kit.pagination import Rows
from opsledger.security.context import Ctx
from opsledger.tickets import service as tickets
from opsledger.tickets.models import Ticket, TicketPriority, TicketStatus
from opsledger.tickets.schemas import TicketCreate, TicketQuery, TicketTransition, TicketUpdate
from opsledger.tickets.service import TICKET_TRANSITIONS
from opsledger.web import forms
from opsledger.web.console import (
    act,
    change_one,
    common,
    list_page,
    page_of_one,
    page_router,
    parsed,
    render,
)
from opsledger.web.forms import Csrf

router = page_router("/tickets")
READ = "tickets:read"


@router.get("")
async def ticket_list(request: Request, session: PrimaryReadSession) -> Response:
    async def fetch(ctx: Ctx, query: TicketQuery) -> Rows[Any]:
        return await tickets.page(ctx, query.filters(), query.overdue, query.limit, query.after)

    return await list_page(
        request,
        session,
        READ,
        "tickets.html",
        TicketQuery,
        fetch,
        statuses=list(TicketStatus),
        priorities=list(TicketPriority),
        moves=TICKET_TRANSITIONS,
        now=utcnow(),
    )


WRITE = "tickets:write"


class TicketForm(forms.Typed):
    title: str = PydanticField("", max_length=2000)
    description: str = PydanticField("", max_length=20_000)
    priority: str = PydanticField("medium", max_length=50)

    def fields(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "description": self.description or None,
            "priority": self.priority,
        }


Fields = Annotated[TicketForm, Form()]


def _render(
    request: Request,
    ctx: Ctx,
    page: str,
    status: int,
    errors: dict[str, str] | None,
    sent: dict[str, str],
    **context: Any,
) -> Response:
    return render(
        request,
        page,
        status,
        priorities=list(TicketPriority),
        errors=errors or {},
        sent=sent,
        **context,
        **common(request, ctx),
    )


@router.get("/new")
async def new_ticket_page(
    request: Request,
    session: PrimaryReadSession,
    job_id: Annotated[str, Query(max_length=30)] = "",
) -> Response:
    """A ticket opened by hand on a job (``?job_id=``, as the job's page links it); without
    one, the page asks which job."""
    found = await page_of_one(request, session, WRITE, lambda ctx: _job(ctx, job_id))
    if isinstance(found, Response):
        return found
    ctx, job = found
    return _render(request, ctx, "ticket_new.html", 200, None, TicketForm().sent(), job=job)


async def _job(ctx: Ctx, job_id: str) -> Job | None:
    """The job a ``job_id`` names (NotFound for anything else), or None when blank."""
    return await jobs.get(ctx, forms.id_of(job_id)) if job_id else None


@router.post("")
async def open_ticket(
    request: Request,
    session: WriteSession,
    form: Fields,
    job_id: Annotated[str, Form(max_length=30)] = "",
) -> Response:
    """A ticket opened by hand on the job the form names."""

    async def save(ctx: Ctx, job: Job) -> Ticket:
        return await tickets.create(
            ctx, TicketCreate.model_validate(form.fields() | {"job_id": job.id})
        )

    async def again(ctx: Ctx, job: Job, status: int, refused: dict[str, str]) -> Response:
        return _render(request, ctx, "ticket_new.html", status, refused, form.sent(), job=job)

    return await change_one(
        request,
        session,
        WRITE,
        form.csrf_token,
        lambda ctx: jobs.get(ctx, forms.id_of(job_id)),
        form.fields(),
        save,
        again,
        lambda ticket: f"/tickets/{ticket.id}",
        conflict_field="form",
    )


async def _page(
    request: Request,
    ctx: Ctx,
    ticket: Ticket,
    status: int = 200,
    errors: dict[str, str] | None = None,
    sent: dict[str, str] | None = None,
) -> Response:
    """A ticket; after a refused change, why beside each field and what was typed."""
    shown = sent or {
        "title": ticket.title,
        "description": ticket.description or "",
        "priority": ticket.priority,
    }
    return _render(
        request,
        ctx,
        "ticket.html",
        status,
        errors,
        shown,
        ticket=ticket,
        moves=sorted(TICKET_TRANSITIONS[TicketStatus(ticket.status)]),
        now=utcnow(),
    )


@router.get("/{ticket_id}")
async def ticket_page(request: Request, session: PrimaryReadSession, ticket_id: PathId) -> Response:
    found = await page_of_one(request, session, READ, lambda ctx: tickets.get(ctx, ticket_id))
    if isinstance(found, Response):
        return found
    return await _page(request, *found)


@router.post("/{ticket_id}")
async def change_ticket(
    request: Request, session: WriteSession, ticket_id: PathId, form: Fields
) -> Response:
    """Its title, description and priority (a new priority moves the due date)."""

    async def save(ctx: Ctx, _: Ticket) -> Ticket:
        return await tickets.update(ctx, ticket_id, TicketUpdate.model_validate(form.fields()))

    async def again(ctx: Ctx, ticket: Ticket, status: int, refused: dict[str, str]) -> Response:
        return await _page(request, ctx, ticket, status, refused, form.sent())

    return await change_one(
        request,
        session,
        WRITE,
        form.csrf_token,
        lambda ctx: tickets.get(ctx, ticket_id),
        form.fields(),
        save,
        again,
        f"/tickets/{ticket_id}",
        conflict_field="form",
    )


@router.post("/{ticket_id}/status")
async def move(
    request: Request,
    session: WriteSession,
    ticket_id: PathId,
    status: Annotated[str, Form(max_length=50)] = "",
    back: Annotated[str, Form(max_length=20)] = "",
    csrf_token: Csrf = "",
) -> Response:
    """One status move; back to the list, or to the ticket's page (``back=ticket``)."""

    async def move(ctx: Ctx) -> Any:
        said = f"{status!r} is not a ticket status."
        change = parsed(TicketTransition.model_validate, {"status": status}, said)
        return await tickets.transition(ctx, ticket_id, change)

    then = f"/tickets/{ticket_id}" if back == "ticket" else "/tickets"
    return await act(request, session, WRITE, csrf_token, move, then)
