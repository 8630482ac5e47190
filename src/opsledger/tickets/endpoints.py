"""HTTP for tickets."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, status

from opsledger.kit.errors import (
    AUTH_ERRORS,
    Conflict,
    NotFound,
    ValidationFailed,
    problem_responses,
)
from opsledger.kit.http import PathId
from opsledger.kit.pagination import Page
from opsledger.kit.routers import api_router
from opsledger.security.auth import Require, RequireListing, RequireRead
from opsledger.security.context import Ctx
from opsledger.tickets import service
from opsledger.tickets.schemas import (
    TicketCreate,
    TicketQuery,
    TicketRead,
    TicketTransition,
    TicketUpdate,
)

router = api_router("/tickets", "tickets")
Read = Annotated[Ctx, Depends(RequireRead("tickets:read"))]
Listing = Annotated[Ctx, Depends(RequireListing("tickets:read"))]
Write = Annotated[Ctx, Depends(Require("tickets:write"))]


@router.get("", responses=problem_responses(*AUTH_ERRORS, ValidationFailed))
async def list_tickets(ctx: Listing, query: Annotated[TicketQuery, Query()]) -> Page[TicketRead]:
    rows = await service.page(ctx, query.filters(), query.overdue, query.limit, query.after)
    return rows.read(TicketRead.model_validate)


@router.get("/{ticket_id}", responses=problem_responses(*AUTH_ERRORS, NotFound, ValidationFailed))
async def read_ticket(ticket_id: PathId, ctx: Read) -> TicketRead:
    return TicketRead.model_validate(await service.get(ctx, ticket_id))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(*AUTH_ERRORS, ValidationFailed),
)
async def create_ticket(body: TicketCreate, ctx: Write) -> TicketRead:
    """Open a ticket on a job; its due date follows the priority's SLA."""
    return TicketRead.model_validate(await service.create(ctx, body))


@router.patch("/{ticket_id}", responses=problem_responses(*AUTH_ERRORS, NotFound, ValidationFailed))
async def update_ticket(ticket_id: PathId, body: TicketUpdate, ctx: Write) -> TicketRead:
    return TicketRead.model_validate(await service.update(ctx, ticket_id, body))


@router.post(
    "/{ticket_id}/transition",
    responses=problem_responses(*AUTH_ERRORS, NotFound, Conflict, ValidationFailed),
)
async def transition_ticket(ticket_id: PathId, body: TicketTransition, ctx: Write) -> TicketRead:
    """open → in_progress → resolved → closed; resolved → open reopens. 409 otherwise."""
    return TicketRead.model_validate(await service.transition(ctx, ticket_id, body))
