"""Console pages for tickets: the list with its SLA (due, overdue) and moving a ticket
along its status machine."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import Response

from opsledger.db.base import utcnow
from opsledger.db.dependencies import PrimaryReadSession, WriteSession
from opsledger.kit.http import PathId
from opsledger.kit.pagination import Rows
from opsledger.kit.routers import page_router
from opsledger.security.context import Ctx
from opsledger.tickets import service as tickets
from opsledger.tickets.models import TicketPriority, TicketStatus
from opsledger.tickets.schemas import TicketQuery, TicketTransition
from opsledger.tickets.service import TICKET_TRANSITIONS
from opsledger.web.console import act, list_page, parsed
from opsledger.web.forms import Csrf

router = page_router("/tickets")


@router.get("")
async def ticket_list(request: Request, session: PrimaryReadSession) -> Response:
    async def fetch(ctx: Ctx, query: TicketQuery) -> Rows[Any]:
        return await tickets.page(ctx, query.filters(), query.overdue, query.limit, query.after)

    return await list_page(
        request,
        session,
        "tickets:read",
        "tickets.html",
        TicketQuery,
        fetch,
        statuses=list(TicketStatus),
        priorities=list(TicketPriority),
        moves=TICKET_TRANSITIONS,
        now=utcnow(),
    )


@router.post("/{ticket_id}/status")
async def move(
    request: Request,
    session: WriteSession,
    ticket_id: PathId,
    status: Annotated[str, Form(max_length=50)] = "",
    csrf_token: Csrf = "",
) -> Response:
    async def move(ctx: Ctx) -> Any:
        said = f"{status!r} is not a ticket status."
        change = parsed(TicketTransition.model_validate, {"status": status}, said)
        return await tickets.transition(ctx, ticket_id, change)

    return await act(request, session, "tickets:write", csrf_token, move, "/tickets")
