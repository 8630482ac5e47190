"""HTTP for secrets."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, status

from opsledger.kit.errors import (
    Conflict,
    Forbidden,
    NotFound,
    Unauthorized,
    ValidationFailed,
    problem_responses,
)
from opsledger.kit.filtering import ListQuery
from opsledger.kit.http import PathId
from opsledger.kit.pagination import Page
from opsledger.kit.routers import api_router
from opsledger.secrets import service
from opsledger.secrets.schemas import SecretCreate, SecretRead, SecretRevealed, SecretUpdate
from opsledger.security.auth import Require, RequireListing, RequireRead
from opsledger.security.context import Ctx

router = api_router("/secrets", "secrets")
AUTH_ERRORS = (Unauthorized, Forbidden)
Manage = Annotated[Ctx, Depends(Require("secrets:manage"))]
Read = Annotated[Ctx, Depends(RequireRead("secrets:manage"))]
Listing = Annotated[Ctx, Depends(RequireListing("secrets:manage"))]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(*AUTH_ERRORS, Conflict, ValidationFailed),
)
async def create_secret(body: SecretCreate, ctx: Manage) -> SecretRead:
    return SecretRead.model_validate(await service.create(ctx, body))


@router.get("", responses=problem_responses(*AUTH_ERRORS, ValidationFailed))
async def list_secrets(ctx: Listing, query: Annotated[ListQuery, Query()]) -> Page[SecretRead]:
    rows = await service.page(ctx, query.limit, query.after)
    return rows.read(SecretRead.model_validate)


@router.get("/{secret_id}", responses=problem_responses(*AUTH_ERRORS, NotFound, ValidationFailed))
async def read_secret(secret_id: PathId, ctx: Read) -> SecretRead:
    return SecretRead.model_validate(await service.get(ctx, secret_id))


@router.patch("/{secret_id}", responses=problem_responses(*AUTH_ERRORS, NotFound, ValidationFailed))
async def update_secret(secret_id: PathId, body: SecretUpdate, ctx: Manage) -> SecretRead:
    secret = await service.replace_value(ctx, secret_id, body.value.get_secret_value())
    return SecretRead.model_validate(secret)


@router.delete(
    "/{secret_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(*AUTH_ERRORS, NotFound, ValidationFailed),
)
async def delete_secret(secret_id: PathId, ctx: Manage) -> None:
    await service.delete(ctx, secret_id)


@router.post(
    "/{secret_id}/reveal", responses=problem_responses(*AUTH_ERRORS, NotFound, ValidationFailed)
)
async def reveal_secret(secret_id: PathId, ctx: Manage) -> SecretRevealed:
    """The one place a secret's value leaves opsledger; each call is audited."""
    return SecretRevealed(id=secret_id, value=await service.reveal(ctx, secret_id))
