"""Console pages for tickets: the list with its SLA (due, overdue) and moving a ticket
along its status machine."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from opsledger.db.base import utcnow
from opsledger.db.dependencies import PrimaryReadSession, WriteSession
from opsledger.kit.errors import Conflict, NotFound
from opsledger.kit.pagination import page_of
from opsledger.kit.schemas import PathId
from opsledger.tickets import service as tickets
from opsledger.tickets.models import TicketPriority, TicketStatus
from opsledger.tickets.schemas import TicketQuery, TicketTransition
from opsledger.tickets.service import TICKET_TRANSITIONS
from opsledger.web.views import (
    common,
    form_context,
    page_context,
    problems,
    query_of,
    refuse,
    render,
)

router = APIRouter(prefix="/tickets", include_in_schema=False)


@router.get("")
async def ticket_list(request: Request, session: PrimaryReadSession) -> Response:
    ctx = await page_context(request, session, "tickets:read")
    if isinstance(ctx, Response):
        return ctx
    context: dict[str, Any] = {
        "query": dict(request.query_params),
        "statuses": list(TicketStatus),
        "priorities": list(TicketPriority),
        "moves": TICKET_TRANSITIONS,
        "now": utcnow(),
        **common(request, ctx),
    }
    try:
        query = query_of(TicketQuery, request)
    except ValidationError as exc:
        return render(request, "tickets.html", 422, tickets=[], errors=problems(exc), **context)
    rows = await tickets.page(ctx, query.filters(), query.overdue, query.limit + 1, query.after)
    page = page_of(rows, query.limit, lambda ticket: ticket)
    return render(
        request,
        "tickets.html",
        tickets=page.items,
        next_cursor=page.next_cursor,
        errors={},
        **context,
    )


@router.post("/{ticket_id}/status")
async def move(
    request: Request,
    session: WriteSession,
    ticket_id: PathId,
    status: Annotated[TicketStatus, Form()],
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    ctx = await form_context(request, session, "tickets:write", csrf_token)
    if isinstance(ctx, Response):
        return ctx
    try:
        await tickets.transition(ctx, ticket_id, TicketTransition(status=status))
    except NotFound:
        return refuse(request, 404, f"Ticket {ticket_id} does not exist.")
    except Conflict as exc:
        return refuse(request, 409, exc.detail)
    return RedirectResponse("/tickets", status_code=303)
