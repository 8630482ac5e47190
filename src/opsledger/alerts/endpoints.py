"""HTTP for alerts."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Response, status

from opsledger.alerts import service
from opsledger.alerts.schemas import (
    AlertCreate,
    AlertmanagerWebhook,
    AlertQuery,
    AlertRead,
    WebhookResult,
)
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

router = api_router("/alerts", "alerts")
Read = Annotated[Ctx, Depends(RequireRead("alerts:read"))]
Listing = Annotated[Ctx, Depends(RequireListing("alerts:read"))]
Write = Annotated[Ctx, Depends(Require("alerts:write"))]
MOVE_ERRORS = problem_responses(*AUTH_ERRORS, NotFound, Conflict, ValidationFailed)


@router.get("", responses=problem_responses(*AUTH_ERRORS, ValidationFailed))
async def list_alerts(ctx: Listing, query: Annotated[AlertQuery, Query()]) -> Page[AlertRead]:
    rows = await service.page(ctx, query.filters(), query.limit, query.after)
    return rows.read(AlertRead.model_validate)


@router.get("/{alert_id}", responses=problem_responses(*AUTH_ERRORS, NotFound, ValidationFailed))
async def read_alert(alert_id: PathId, ctx: Read) -> AlertRead:
    return AlertRead.model_validate(await service.get(ctx, alert_id))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"description": "An open alert with this fingerprint was updated", "model": AlertRead},
        **problem_responses(*AUTH_ERRORS, ValidationFailed),
    },
)
async def raise_alert(body: AlertCreate, ctx: Write, response: Response) -> AlertRead:
    alert, new = await service.raise_alert(ctx, body)
    if not new:
        response.status_code = status.HTTP_200_OK
    return AlertRead.model_validate(alert)


@router.post("/alertmanager", responses=problem_responses(*AUTH_ERRORS, ValidationFailed))
async def alertmanager_webhook(body: AlertmanagerWebhook, ctx: Write) -> WebhookResult:
    """Point an Alertmanager webhook receiver here (with an API key header)."""
    return await service.receive_alertmanager(ctx, body)


@router.post("/{alert_id}/acknowledge", responses=MOVE_ERRORS)
async def acknowledge_alert(alert_id: PathId, ctx: Write) -> AlertRead:
    return AlertRead.model_validate(await service.acknowledge(ctx, alert_id))


@router.post("/{alert_id}/resolve", responses=MOVE_ERRORS)
async def resolve_alert(alert_id: PathId, ctx: Write) -> AlertRead:
    return AlertRead.model_validate(await service.resolve(ctx, alert_id))
