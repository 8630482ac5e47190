"""HTTP for applications."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, status

from opsledger.applications import service
from opsledger.applications.schemas import (
    ApplicationCreate,
    ApplicationQuery,
    ApplicationRead,
    ApplicationUpdate,
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

router = api_router("/applications", "applications")
Read = Annotated[Ctx, Depends(RequireRead("applications:read"))]
Listing = Annotated[Ctx, Depends(RequireListing("applications:read"))]
Write = Annotated[Ctx, Depends(Require("applications:write"))]


@router.get("", responses=problem_responses(*AUTH_ERRORS, ValidationFailed))
async def list_applications(
    ctx: Listing, query: Annotated[ApplicationQuery, Query()]
) -> Page[ApplicationRead]:
    rows = await service.page(ctx, query.filters(), query.limit, query.after)
    return rows.read(ApplicationRead.model_validate)


@router.get(
    "/{application_id}", responses=problem_responses(*AUTH_ERRORS, NotFound, ValidationFailed)
)
async def read_application(application_id: PathId, ctx: Read) -> ApplicationRead:
    return ApplicationRead.model_validate(await service.get(ctx, application_id))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(*AUTH_ERRORS, Conflict, ValidationFailed),
)
async def create_application(body: ApplicationCreate, ctx: Write) -> ApplicationRead:
    return ApplicationRead.model_validate(await service.create(ctx, body))


@router.patch(
    "/{application_id}",
    responses=problem_responses(*AUTH_ERRORS, NotFound, Conflict, ValidationFailed),
)
async def update_application(
    application_id: PathId, body: ApplicationUpdate, ctx: Write
) -> ApplicationRead:
    return ApplicationRead.model_validate(await service.update(ctx, application_id, body))


@router.delete(
    "/{application_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(*AUTH_ERRORS, NotFound, Conflict, ValidationFailed),
)
async def delete_application(application_id: PathId, ctx: Write) -> None:
    await service.delete(ctx, application_id)
