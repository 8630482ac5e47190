"""HTTP for freeze windows: admins manage them, everyone reads them and what is open."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, status

from opsledger.freeze_windows import service
from opsledger.freeze_windows.schemas import (
    ActiveQuery,
    ActiveWindow,
    ActiveWindows,
    FreezeWindowCreate,
    FreezeWindowQuery,
    FreezeWindowRead,
    FreezeWindowUpdate,
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

router = api_router("/freeze-windows", "freeze windows")
Read = Annotated[Ctx, Depends(RequireRead("freeze_windows:read"))]
Listing = Annotated[Ctx, Depends(RequireListing("freeze_windows:read"))]
Write = Annotated[Ctx, Depends(Require("freeze_windows:write"))]
READ_ERRORS = problem_responses(*AUTH_ERRORS, NotFound, ValidationFailed)


@router.get("", responses=problem_responses(*AUTH_ERRORS, ValidationFailed))
async def list_freeze_windows(
    ctx: Listing, query: Annotated[FreezeWindowQuery, Query()]
) -> Page[FreezeWindowRead]:
    rows = await service.page(ctx, query.filters(), query.limit, query.after)
    return rows.read(FreezeWindowRead.model_validate)


@router.get("/active", responses=problem_responses(*AUTH_ERRORS, ValidationFailed))
async def active_freeze_windows(ctx: Read, query: Annotated[ActiveQuery, Query()]) -> ActiveWindows:
    """The windows open now (or at `at`), each with when this time of it began and ends."""
    items = [
        ActiveWindow.model_validate(
            {
                **FreezeWindowRead.model_validate(opened.window).model_dump(),
                "active_from": opened.starts_at,
                "active_until": opened.ends_at,
            }
        )
        for opened in await service.open_at(ctx, query.at)
    ]
    return ActiveWindows(items=items)


@router.get("/{window_id}", responses=READ_ERRORS)
async def read_freeze_window(window_id: PathId, ctx: Read) -> FreezeWindowRead:
    return FreezeWindowRead.model_validate(await service.get(ctx, window_id))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(*AUTH_ERRORS, Conflict, ValidationFailed),
)
async def create_freeze_window(body: FreezeWindowCreate, ctx: Write) -> FreezeWindowRead:
    return FreezeWindowRead.model_validate(await service.create(ctx, body))


@router.patch(
    "/{window_id}", responses=problem_responses(*AUTH_ERRORS, NotFound, Conflict, ValidationFailed)
)
async def update_freeze_window(
    window_id: PathId, body: FreezeWindowUpdate, ctx: Write
) -> FreezeWindowRead:
    return FreezeWindowRead.model_validate(await service.update(ctx, window_id, body))


@router.delete("/{window_id}", status_code=status.HTTP_204_NO_CONTENT, responses=READ_ERRORS)
async def delete_freeze_window(window_id: PathId, ctx: Write) -> None:
    await service.delete(ctx, window_id)
