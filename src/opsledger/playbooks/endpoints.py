"""HTTP for playbooks."""

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
from opsledger.playbooks import service
from opsledger.playbooks.schemas import (
    PlaybookCreate,
    PlaybookQuery,
    PlaybookRead,
    PlaybookUpdate,
    PlaybookVerification,
)
from opsledger.security.auth import Require, RequireListing, RequireRead
from opsledger.security.context import Ctx

router = api_router("/playbooks", "playbooks")
Read = Annotated[Ctx, Depends(RequireRead("playbooks:read"))]
Listing = Annotated[Ctx, Depends(RequireListing("playbooks:read"))]
Write = Annotated[Ctx, Depends(Require("playbooks:write"))]


@router.get("", responses=problem_responses(*AUTH_ERRORS, ValidationFailed))
async def list_playbooks(
    ctx: Listing, query: Annotated[PlaybookQuery, Query()]
) -> Page[PlaybookRead]:
    rows = await service.page(ctx, query.filters(), query.limit, query.after)
    return rows.read(PlaybookRead.model_validate)


@router.get("/{playbook_id}", responses=problem_responses(*AUTH_ERRORS, NotFound, ValidationFailed))
async def read_playbook(playbook_id: PathId, ctx: Read) -> PlaybookRead:
    return PlaybookRead.model_validate(await service.get(ctx, playbook_id))


@router.get(
    "/{playbook_id}/verify", responses=problem_responses(*AUTH_ERRORS, NotFound, ValidationFailed)
)
async def verify_playbook(playbook_id: PathId, ctx: Read) -> PlaybookVerification:
    """Re-hash the file on disk and compare it with the hash taken at registration."""
    return await service.verify(ctx, playbook_id)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(*AUTH_ERRORS, Conflict, ValidationFailed),
)
async def register_playbook(body: PlaybookCreate, ctx: Write) -> PlaybookRead:
    return PlaybookRead.model_validate(await service.register(ctx, body))


@router.patch(
    "/{playbook_id}",
    responses=problem_responses(*AUTH_ERRORS, NotFound, Conflict, ValidationFailed),
)
async def update_playbook(playbook_id: PathId, body: PlaybookUpdate, ctx: Write) -> PlaybookRead:
    return PlaybookRead.model_validate(await service.update(ctx, playbook_id, body))
