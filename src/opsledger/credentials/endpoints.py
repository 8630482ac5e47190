"""HTTP for a host's credentials (admins only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, status

from opsledger.credentials import service
from opsledger.credentials.schemas import (
    CredentialCreate,
    CredentialQuery,
    CredentialRead,
    CredentialRotate,
    Deactivated,
    DeactivateQuery,
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

router = api_router("/hosts/{host_id}/credentials", "credentials")
Read = Annotated[Ctx, Depends(RequireRead("credentials:read"))]
Listing = Annotated[Ctx, Depends(RequireListing("credentials:read"))]
Write = Annotated[Ctx, Depends(Require("credentials:write"))]


@router.get("", responses=problem_responses(*AUTH_ERRORS, NotFound, ValidationFailed))
async def list_credentials(
    host_id: PathId, ctx: Listing, query: Annotated[CredentialQuery, Query()]
) -> Page[CredentialRead]:
    rows = await service.page(ctx, host_id, query.filters(), query.limit, query.after)
    return rows.read(CredentialRead.model_validate)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(*AUTH_ERRORS, NotFound, ValidationFailed),
)
async def add_credential(host_id: PathId, body: CredentialCreate, ctx: Write) -> CredentialRead:
    return CredentialRead.model_validate(await service.add(ctx, host_id, body))


@router.post("/deactivate", responses=problem_responses(*AUTH_ERRORS, NotFound, ValidationFailed))
async def deactivate_credentials(
    host_id: PathId, ctx: Write, query: Annotated[DeactivateQuery, Query()]
) -> Deactivated:
    """Deactivate every active credential of one type on the host, in one statement."""
    return Deactivated(deactivated=await service.deactivate_type(ctx, host_id, query.type))


@router.post(
    "/{credential_id}/rotate",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(*AUTH_ERRORS, NotFound, Conflict, ValidationFailed),
)
async def rotate_credential(
    host_id: PathId, credential_id: PathId, body: CredentialRotate, ctx: Write
) -> CredentialRead:
    """A new credential replaces this one, which is deactivated and kept on record."""
    credential = await service.rotate(ctx, host_id, credential_id, body.value.get_secret_value())
    return CredentialRead.model_validate(credential)
