"""HTTP for API keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, status

from opsledger.api_keys import service
from opsledger.api_keys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyRead
from opsledger.kit.errors import (
    AUTH_ERRORS,
    Conflict,
    NotFound,
    ValidationFailed,
    problem_responses,
)
from opsledger.kit.filtering import ListQuery
from opsledger.kit.http import PathId
from opsledger.kit.pagination import Page
from opsledger.kit.routers import api_router
from opsledger.security.auth import Require, RequireListing, RequireRead
from opsledger.security.context import Ctx

router = api_router("/api-keys", "api keys")


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(*AUTH_ERRORS, ValidationFailed),
)
async def create_api_key(
    body: ApiKeyCreate, ctx: Annotated[Ctx, Depends(Require("api_keys:manage"))]
) -> ApiKeyCreated:
    key, secret = await service.create(ctx, body)
    return ApiKeyCreated(**ApiKeyRead.model_validate(key).model_dump(), key=secret)


@router.get("", responses=problem_responses(*AUTH_ERRORS, ValidationFailed))
async def list_api_keys(
    ctx: Annotated[Ctx, Depends(RequireListing("api_keys:manage"))],
    query: Annotated[ListQuery, Query()],
) -> Page[ApiKeyRead]:
    rows = await service.page(ctx, query.limit, query.after)
    return rows.read(ApiKeyRead.model_validate)


@router.get("/{key_id}", responses=problem_responses(*AUTH_ERRORS, NotFound, ValidationFailed))
async def read_api_key(
    key_id: PathId, ctx: Annotated[Ctx, Depends(RequireRead("api_keys:manage"))]
) -> ApiKeyRead:
    return ApiKeyRead.model_validate(await service.get(ctx, key_id))


@router.delete(
    "/{key_id}", responses=problem_responses(*AUTH_ERRORS, NotFound, Conflict, ValidationFailed)
)
async def revoke_api_key(
    key_id: PathId, ctx: Annotated[Ctx, Depends(Require("api_keys:manage"))]
) -> ApiKeyRead:
    """Revoke the key: it stops working at once and stays listed, marked revoked."""
    return ApiKeyRead.model_validate(await service.revoke(ctx, key_id))
