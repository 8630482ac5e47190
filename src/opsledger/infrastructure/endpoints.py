"""HTTP for infrastructure."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, status

from opsledger.infrastructure import service
from opsledger.infrastructure.schemas import (
    InfrastructureCreate,
    InfrastructureQuery,
    InfrastructureRead,
    InfrastructureUpdate,
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

router = api_router("/infrastructure", "infrastructure")
Read = Annotated[Ctx, Depends(RequireRead("infrastructure:read"))]
Listing = Annotated[Ctx, Depends(RequireListing("infrastructure:read"))]
Write = Annotated[Ctx, Depends(Require("infrastructure:write"))]


@router.get("", responses=problem_responses(*AUTH_ERRORS, ValidationFailed))
async def list_infrastructure(
    ctx: Listing, query: Annotated[InfrastructureQuery, Query()]
) -> Page[InfrastructureRead]:
    rows = await service.page(ctx, query.filters(), query.limit, query.after)
    return rows.read(InfrastructureRead.model_validate)


@router.get(
    "/{infrastructure_id}", responses=problem_responses(*AUTH_ERRORS, NotFound, ValidationFailed)
)
async def read_infrastructure(infrastructure_id: PathId, ctx: Read) -> InfrastructureRead:
    return InfrastructureRead.model_validate(await service.get(ctx, infrastructure_id))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(*AUTH_ERRORS, Conflict, ValidationFailed),
)
async def create_infrastructure(body: InfrastructureCreate, ctx: Write) -> InfrastructureRead:
    return InfrastructureRead.model_validate(await service.create(ctx, body))


@router.patch(
    "/{infrastructure_id}",
    responses=problem_responses(*AUTH_ERRORS, NotFound, Conflict, ValidationFailed),
)
async def update_infrastructure(
    infrastructure_id: PathId, body: InfrastructureUpdate, ctx: Write
) -> InfrastructureRead:
    return InfrastructureRead.model_validate(await service.update(ctx, infrastructure_id, body))


@router.delete(
    "/{infrastructure_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(*AUTH_ERRORS, NotFound, Conflict, ValidationFailed),
)
async def delete_infrastructure(infrastructure_id: PathId, ctx: Write) -> None:
    await service.delete(ctx, infrastructure_id)
