"""HTTP for job templates."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, status

from opsledger.hosts.schemas import SelectedHost, SelectedHosts
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
from opsledger.runs import service as runs
from opsledger.runs.schemas import RunRead
from opsledger.security.auth import Require, RequireListing, RequireRead
from opsledger.security.context import Ctx
from opsledger.templates import service
from opsledger.templates.schemas import (
    TemplateCreate,
    TemplateLaunchRequest,
    TemplateQuery,
    TemplateRead,
    TemplateUpdate,
)

router = api_router("/job-templates", "job templates")
Read = Annotated[Ctx, Depends(RequireRead("templates:read"))]
Listing = Annotated[Ctx, Depends(RequireListing("templates:read"))]
Write = Annotated[Ctx, Depends(Require("templates:write"))]
Launch = Annotated[Ctx, Depends(Require("jobs:run"))]


@router.get("", responses=problem_responses(*AUTH_ERRORS, ValidationFailed))
async def list_job_templates(
    ctx: Listing, query: Annotated[TemplateQuery, Query()]
) -> Page[TemplateRead]:
    rows = await service.page(ctx, query.filters(), query.limit, query.after)
    return rows.read(TemplateRead.model_validate)


@router.get("/{template_id}", responses=problem_responses(*AUTH_ERRORS, NotFound, ValidationFailed))
async def read_job_template(template_id: PathId, ctx: Read) -> TemplateRead:
    return TemplateRead.model_validate(await service.get(ctx, template_id))


@router.get(
    "/{template_id}/preview", responses=problem_responses(*AUTH_ERRORS, NotFound, ValidationFailed)
)
async def preview_job_template(
    template_id: PathId, ctx: Listing, query: Annotated[ListQuery, Query()]
) -> SelectedHosts:
    """The hosts the selector matches now (active, not decommissioned, every criterion
    met), keyset-paged by id like every list, with `total`: how many it matches in all.
    A launch resolves the selector again when it starts."""
    rows, total = await service.preview(ctx, template_id, query.limit, query.after)
    return SelectedHosts(
        items=[SelectedHost.model_validate(host) for host in rows.items],
        next_cursor=rows.next_cursor,
        total=total,
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(*AUTH_ERRORS, Conflict, ValidationFailed),
)
async def create_job_template(body: TemplateCreate, ctx: Write) -> TemplateRead:
    return TemplateRead.model_validate(await service.create(ctx, body))


@router.patch(
    "/{template_id}",
    responses=problem_responses(*AUTH_ERRORS, NotFound, Conflict, ValidationFailed),
)
async def update_job_template(
    template_id: PathId, body: TemplateUpdate, ctx: Write
) -> TemplateRead:
    return TemplateRead.model_validate(await service.update(ctx, template_id, body))


@router.delete(
    "/{template_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(*AUTH_ERRORS, NotFound, ValidationFailed),
)
async def delete_job_template(template_id: PathId, ctx: Write) -> None:
    await service.delete(ctx, template_id)


@router.post(
    "/{template_id}/launch",
    status_code=status.HTTP_202_ACCEPTED,
    responses=problem_responses(*AUTH_ERRORS, NotFound, Conflict, ValidationFailed),
)
async def launch_job_template(
    template_id: PathId, body: TemplateLaunchRequest, ctx: Launch
) -> RunRead:
    """Run the template: its selector resolved now, prompts checked (422 names each bad
    one), secret prompt values encrypted on the run and shown as ********. 409 when a
    freeze window holds one of its hosts (an admin may launch with `override_reason`)."""
    run = await runs.launch_template(ctx, template_id, body, override_reason=body.override_reason)
    return RunRead.of(run, await runs.tally(ctx, run))
