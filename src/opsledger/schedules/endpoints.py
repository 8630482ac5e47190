"""HTTP for schedules."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Depends, Query, status

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
from opsledger.schedules import service
from opsledger.schedules.schemas import (
    FireRead,
    PreviewQuery,
    ScheduleCreate,
    SchedulePreview,
    ScheduleQuery,
    ScheduleRead,
    ScheduleTime,
    ScheduleUpdate,
    TimingPreviewQuery,
)
from opsledger.security.auth import Require, RequireListing, RequireRead
from opsledger.security.context import Ctx

router = api_router("/schedules", "schedules")
Read = Annotated[Ctx, Depends(RequireRead("schedules:read"))]
Listing = Annotated[Ctx, Depends(RequireListing("schedules:read"))]
Write = Annotated[Ctx, Depends(Require("schedules:write"))]
READ_ERRORS = problem_responses(*AUTH_ERRORS, NotFound, ValidationFailed)


def timed(zone_name: str, times: list[datetime]) -> SchedulePreview:
    zone = ZoneInfo(zone_name)
    return SchedulePreview(
        timezone=zone_name,
        times=[ScheduleTime(utc=moment, local=moment.astimezone(zone)) for moment in times],
    )


@router.get("", responses=problem_responses(*AUTH_ERRORS, ValidationFailed))
async def list_schedules(
    ctx: Listing, query: Annotated[ScheduleQuery, Query()]
) -> Page[ScheduleRead]:
    rows = await service.page(ctx, query.filters(), query.limit, query.after)
    return rows.read(ScheduleRead.of)


@router.get("/preview", responses=problem_responses(*AUTH_ERRORS, ValidationFailed))
async def preview_cron(ctx: Read, query: Annotated[TimingPreviewQuery, Query()]) -> SchedulePreview:
    """The next `count` times a cron expression names in a time zone, before saving it:
    422 names `cron` or `timezone` when either is not valid."""
    return timed(query.timezone, service.preview_cron(query.cron, query.timezone, query.count))


@router.get("/{schedule_id}", responses=READ_ERRORS)
async def read_schedule(schedule_id: PathId, ctx: Read) -> ScheduleRead:
    return ScheduleRead.of(await service.get(ctx, schedule_id))


@router.get("/{schedule_id}/preview", responses=READ_ERRORS)
async def preview_schedule(
    schedule_id: PathId, ctx: Read, query: Annotated[PreviewQuery, Query()]
) -> SchedulePreview:
    """The next `count` times the schedule fires (up to its end), in UTC and in its zone."""
    schedule = await service.get(ctx, schedule_id)
    return timed(schedule.timezone, service.preview(schedule, query.count))


@router.get("/{schedule_id}/fires", responses=READ_ERRORS)
async def list_schedule_fires(
    schedule_id: PathId, ctx: Listing, query: Annotated[ListQuery, Query()]
) -> Page[FireRead]:
    """Its fires and skips, newest first: the run each made, or why it made none."""
    rows = await service.fires_page(ctx, schedule_id, query.limit, query.after)
    return rows.read(FireRead.model_validate)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(*AUTH_ERRORS, Conflict, ValidationFailed),
)
async def create_schedule(body: ScheduleCreate, ctx: Write) -> ScheduleRead:
    """Prompt values are checked against the template's prompts now (422 names each bad
    one) and again at each fire; secret ones are kept encrypted and shown as ********.
    Its fires are runs of the user who made it."""
    return ScheduleRead.of(await service.create(ctx, body))


@router.patch(
    "/{schedule_id}",
    responses=problem_responses(*AUTH_ERRORS, NotFound, Conflict, ValidationFailed),
)
async def update_schedule(schedule_id: PathId, body: ScheduleUpdate, ctx: Write) -> ScheduleRead:
    return ScheduleRead.of(await service.update(ctx, schedule_id, body))


@router.post("/{schedule_id}/enable", responses=READ_ERRORS)
async def enable_schedule(schedule_id: PathId, ctx: Write) -> ScheduleRead:
    """Fire again from now on: times passed while disabled are not missed runs."""
    return ScheduleRead.of(await service.enable(ctx, schedule_id))


@router.post("/{schedule_id}/disable", responses=READ_ERRORS)
async def disable_schedule(schedule_id: PathId, ctx: Write) -> ScheduleRead:
    return ScheduleRead.of(await service.disable(ctx, schedule_id))


@router.delete("/{schedule_id}", status_code=status.HTTP_204_NO_CONTENT, responses=READ_ERRORS)
async def delete_schedule(schedule_id: PathId, ctx: Write) -> None:
    await service.delete(ctx, schedule_id)
