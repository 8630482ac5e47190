"""HTTP for triggers: managing them, and the hook other systems post deliveries to
(signed with the trigger's secret, no user credentials)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request, status
from fastapi.responses import JSONResponse

from opsledger.kit.errors import (
    AUTH_ERRORS,
    BadRequest,
    Conflict,
    ContentTooLarge,
    NotFound,
    RateLimited,
    Unauthorized,
    ValidationFailed,
    problem_responses,
)
from opsledger.kit.filtering import ListQuery
from opsledger.kit.http import PathId, problem_response
from opsledger.kit.pagination import Page
from opsledger.kit.routers import api_router
from opsledger.security.auth import Require, RequireListing, RequireRead, anonymous_context
from opsledger.security.context import Ctx
from opsledger.triggers import service
from opsledger.triggers.models import Trigger
from opsledger.triggers.schemas import (
    DeliveryAnswer,
    DeliveryRead,
    TriggerCreate,
    TriggerCreated,
    TriggerQuery,
    TriggerRead,
    TriggerUpdate,
)

router = api_router("/triggers", "triggers")
hooks_router = api_router("/hooks", "triggers")
Read = Annotated[Ctx, Depends(RequireRead("triggers:read"))]
Listing = Annotated[Ctx, Depends(RequireListing("triggers:read"))]
Write = Annotated[Ctx, Depends(Require("triggers:write"))]
Anonymous = Annotated[Ctx, Depends(anonymous_context)]
READ_ERRORS = problem_responses(*AUTH_ERRORS, NotFound, ValidationFailed)


@router.get("", responses=problem_responses(*AUTH_ERRORS, ValidationFailed))
async def list_triggers(ctx: Listing, query: Annotated[TriggerQuery, Query()]) -> Page[TriggerRead]:
    rows = await service.page(ctx, query.filters(), query.limit, query.after)
    return rows.read(TriggerRead.of)


@router.get("/{trigger_id}", responses=READ_ERRORS)
async def read_trigger(trigger_id: PathId, ctx: Read) -> TriggerRead:
    return TriggerRead.of(await service.get(ctx, trigger_id))


@router.get("/{trigger_id}/deliveries", responses=READ_ERRORS)
async def list_trigger_deliveries(
    trigger_id: PathId, ctx: Listing, query: Annotated[ListQuery, Query()]
) -> Page[DeliveryRead]:
    """Every delivery, newest first: launched, duplicate or refused, and why."""
    rows = await service.deliveries_page(ctx, trigger_id, query.limit, query.after)
    return rows.read(DeliveryRead.model_validate)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(*AUTH_ERRORS, NotFound, Conflict, ValidationFailed),
)
async def create_trigger(body: TriggerCreate, ctx: Write) -> TriggerCreated:
    """Its launches are runs of the user who made it. `secret` is in this answer only:
    sign each delivery's body with it (HMAC-SHA256)."""
    trigger, secret = await service.create(ctx, body)
    return _created(trigger, secret)


def _created(trigger: Trigger, secret: str) -> TriggerCreated:
    return TriggerCreated.model_validate({**TriggerRead.of(trigger).model_dump(), "secret": secret})


@router.patch(
    "/{trigger_id}",
    responses=problem_responses(*AUTH_ERRORS, NotFound, Conflict, ValidationFailed),
)
async def update_trigger(trigger_id: PathId, body: TriggerUpdate, ctx: Write) -> TriggerRead:
    return TriggerRead.of(await service.update(ctx, trigger_id, body))


@router.post(
    "/{trigger_id}/rotate", responses=problem_responses(*AUTH_ERRORS, NotFound, ValidationFailed)
)
async def rotate_trigger_secret(trigger_id: PathId, ctx: Write) -> TriggerCreated:
    """A new secret, in this answer only; deliveries signed with the old one are refused
    from now on. Only the trigger's owner or an admin rotates it."""
    trigger, secret = await service.rotate_secret(ctx, trigger_id)
    return _created(trigger, secret)


@router.delete("/{trigger_id}", status_code=status.HTTP_204_NO_CONTENT, responses=READ_ERRORS)
async def delete_trigger(trigger_id: PathId, ctx: Write) -> None:
    await service.delete(ctx, trigger_id)


@hooks_router.post(
    "/{trigger_id}",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        200: {
            "description": "A delivery id or signature seen before: nothing launched",
            "model": DeliveryAnswer,
        },
        **problem_responses(
            BadRequest,
            Unauthorized,
            NotFound,
            Conflict,
            ContentTooLarge,
            ValidationFailed,
            RateLimited,
        ),
    },
)
async def deliver(trigger_id: PathId, request: Request, ctx: Anonymous) -> JSONResponse:
    """A delivery: signed with `X-Hub-Signature-256: sha256=<hex>` (GitHub) or
    `X-Opsledger-Signature: t=<unix>,v1=<hex of HMAC-SHA256 of "t.body">` (at most 5
    minutes old; its key is HMAC-SHA256 of "opsledger-v1" under the secret), named by
    `X-GitHub-Delivery` or `X-Opsledger-Delivery`. 202 with the run it launched; 200 for
    a delivery id or a signature seen before (nothing launched); 409 in a freeze window;
    429 over the trigger's rate. Only the prompt values its JSON pointers name are taken
    from the body."""
    answer = await service.deliver(ctx, trigger_id, request.headers, await request.body())
    delivery = answer.delivery
    if answer.status >= 400:
        headers = {"Retry-After": "60"} if answer.status == 429 else None
        return problem_response(answer.status, delivery.reason or "", headers=headers)
    body = DeliveryAnswer(
        outcome=delivery.outcome,
        delivery_id=delivery.delivery_id,
        run_id=delivery.run_id,
        detail=delivery.reason or "",
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=answer.status)
