"""HTTP for host roles."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, status

from opsledger.host_roles import service
from opsledger.host_roles.schemas import HostRoleCreate, HostRoleQuery, HostRoleRead, HostRoleUpdate
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

router = api_router("/host-roles", "host roles")
Read = Annotated[Ctx, Depends(RequireRead("host_roles:read"))]
Listing = Annotated[Ctx, Depends(RequireListing("host_roles:read"))]
Write = Annotated[Ctx, Depends(Require("host_roles:write"))]


@router.get("", responses=problem_responses(*AUTH_ERRORS, ValidationFailed))
async def list_host_roles(
    ctx: Listing, query: Annotated[HostRoleQuery, Query()]
) -> Page[HostRoleRead]:
    rows = await service.page(ctx, query.filters(), query.limit, query.after)
    return rows.read(HostRoleRead.model_validate)


@router.get("/{role_id}", responses=problem_responses(*AUTH_ERRORS, NotFound, ValidationFailed))
async def read_host_role(role_id: PathId, ctx: Read) -> HostRoleRead:
    return HostRoleRead.model_validate(await service.get(ctx, role_id))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(*AUTH_ERRORS, Conflict, ValidationFailed),
)
async def create_host_role(body: HostRoleCreate, ctx: Write) -> HostRoleRead:
    return HostRoleRead.model_validate(await service.create(ctx, body))


@router.patch(
    "/{role_id}", responses=problem_responses(*AUTH_ERRORS, NotFound, Conflict, ValidationFailed)
)
async def update_host_role(role_id: PathId, body: HostRoleUpdate, ctx: Write) -> HostRoleRead:
    return HostRoleRead.model_validate(await service.update(ctx, role_id, body))
