"""HTTP for jobs and their logs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Header, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from pydantic_core import to_json

from opsledger.db.dependencies import database_of
from opsledger.jobs import following, service
from opsledger.jobs.schemas import FollowQuery, JobCreate, JobQuery, JobRead, LogPage, LogQuery
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
from opsledger.kit.schemas import MAX_ID
from opsledger.security.auth import Require, RequireListing, RequireRead
from opsledger.security.context import Ctx

router = api_router("/jobs", "jobs")
Read = Annotated[Ctx, Depends(RequireRead("jobs:read"))]
Listing = Annotated[Ctx, Depends(RequireListing("jobs:read"))]
Run = Annotated[Ctx, Depends(Require("jobs:run"))]


@router.get("", responses=problem_responses(*AUTH_ERRORS, ValidationFailed))
async def list_jobs(ctx: Listing, query: Annotated[JobQuery, Query()]) -> Page[JobRead]:
    rows = await service.page(
        ctx, query.filters(), query.since, query.until, query.limit, query.after
    )
    return rows.read(JobRead.model_validate)


@router.get("/{job_id}", responses=problem_responses(*AUTH_ERRORS, NotFound, ValidationFailed))
async def read_job(job_id: PathId, ctx: Read) -> JobRead:
    return JobRead.model_validate(await service.get(ctx, job_id))


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    responses=problem_responses(*AUTH_ERRORS, Conflict, ValidationFailed),
)
async def create_job(body: JobCreate, ctx: Run) -> JobRead:
    """Queue a playbook run against a host; the answer is the pending job. 409 when a
    freeze window holds the host (an admin may launch anyway with `override_reason`)."""
    return JobRead.model_validate(await service.create(ctx, body))


@router.post(
    "/{job_id}/cancel",
    responses=problem_responses(*AUTH_ERRORS, NotFound, Conflict, ValidationFailed),
)
async def cancel_job(job_id: PathId, ctx: Run) -> JobRead:
    return JobRead.model_validate(await service.cancel(ctx, job_id))


@router.get(
    "/{job_id}/logs",
    response_model=LogPage,
    responses=problem_responses(*AUTH_ERRORS, NotFound, ValidationFailed),
)
async def read_job_logs(
    job_id: PathId, ctx: Listing, query: Annotated[LogQuery, Query()]
) -> Response:
    """Lines after `after`, in order, keyset-paged by line number."""
    page = await service.log_page(ctx, job_id, query.after, query.limit)
    return Response(page, media_type="application/json")


@router.get(
    "/{job_id}/logs/stream",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "Server-sent events"},
        **problem_responses(*AUTH_ERRORS, NotFound, ValidationFailed),
    },
)
async def stream_job_logs(
    job_id: PathId,
    ctx: Read,
    request: Request,
    query: Annotated[FollowQuery, Query()],
    last_event_id: Annotated[int | None, Header(ge=0, le=MAX_ID)] = None,
) -> StreamingResponse:
    """Follow the job's output as server-sent events until it ends; reconnecting with
    `Last-Event-ID` (or `?after=`) resumes after that line."""
    await service.get(ctx, job_id)
    start = last_event_id if last_event_id is not None else query.after
    return event_stream(request, job_id, start)


def event_stream(request: Request, job_id: int, after: int) -> StreamingResponse:
    """The job's lines after ``after`` and then its end, as server-sent events (read from
    the primary: a follower must see lines as soon as they commit)."""
    events = as_events(following.follow(database_of(request).primary_reads, job_id, after))
    return StreamingResponse(
        events, media_type="text/event-stream", headers={"Cache-Control": "no-store"}
    )


async def as_events(items: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    """Lines as `line` events whose id is the line number; the final status as `end`."""
    yield b"retry: 5000\n\n"
    async for item in items:
        if "line_number" in item:
            yield b"id: %d\nevent: line\ndata: %s\n\n" % (item["line_number"], to_json(item))
        else:
            yield b"event: end\ndata: %s\n\n" % to_json(item)
