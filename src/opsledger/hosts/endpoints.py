"""HTTP for hosts."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, status

from opsledger import flows
from opsledger.hosts import service
from opsledger.hosts.schemas import (
    HostBulk,
    HostBulkResult,
    HostCreate,
    HostDeleteQuery,
    HostQuery,
    HostRead,
    HostTransition,
    HostUpdate,
)
from opsledger.jobs.schemas import JobRead
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
from opsledger.runs import service as runs
from opsledger.runs.schemas import FleetProvision, RunList, RunRead
from opsledger.security.auth import Require, RequireListing, RequireRead
from opsledger.security.context import Ctx

router = api_router("/hosts", "hosts")
Read = Annotated[Ctx, Depends(RequireRead("hosts:read"))]
Listing = Annotated[Ctx, Depends(RequireListing("hosts:read"))]
Write = Annotated[Ctx, Depends(Require("hosts:write"))]
Run = Annotated[Ctx, Depends(Require("jobs:run"))]


@router.get("", responses=problem_responses(*AUTH_ERRORS, ValidationFailed))
async def list_hosts(ctx: Listing, query: Annotated[HostQuery, Query()]) -> Page[HostRead]:
    """Filter by any listed column; `?tag=env` or `?tag=env=prod` match tags."""
    return await service.answer_page(ctx, query.filters(), query.tag, query.limit, query.after)


@router.get("/{host_id}", responses=problem_responses(*AUTH_ERRORS, NotFound, ValidationFailed))
async def read_host(host_id: PathId, ctx: Read) -> HostRead:
    return await service.read(ctx, host_id)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(*AUTH_ERRORS, Conflict, ValidationFailed),
)
async def create_host(body: HostCreate, ctx: Write) -> HostRead:
    return HostRead.model_validate(await service.create(ctx, body))


@router.patch(
    "/{host_id}", responses=problem_responses(*AUTH_ERRORS, NotFound, Conflict, ValidationFailed)
)
async def update_host(host_id: PathId, body: HostUpdate, ctx: Write) -> HostRead:
    return HostRead.model_validate(await service.update(ctx, host_id, body))


@router.post(
    "/{host_id}/transition",
    responses=problem_responses(*AUTH_ERRORS, NotFound, Conflict, ValidationFailed),
)
async def transition_host(host_id: PathId, body: HostTransition, ctx: Write) -> HostRead:
    """Move the host along its lifecycle; 409 when the move is not allowed or raced."""
    return HostRead.model_validate(await service.transition(ctx, host_id, body))


@router.post("/bulk", responses=problem_responses(*AUTH_ERRORS, Conflict, ValidationFailed))
async def bulk_change_hosts(body: HostBulk, ctx: Write) -> HostBulkResult:
    """One change (a lifecycle move, a host role or a tag) to every host the selector
    matches, all or none: 409 and nothing changes when one host cannot take it, or when
    `expected` (the count the caller confirmed) is no longer what the selector matches.
    `dry_run` only counts. At most 1,000 hosts at once."""
    return await service.bulk(ctx, body)


@router.post(
    "/provision",
    status_code=status.HTTP_202_ACCEPTED,
    responses=problem_responses(*AUTH_ERRORS, Conflict, ValidationFailed),
)
async def provision_hosts(body: FleetProvision, ctx: Run) -> RunList:
    """Provision every host the selector matches with its role's default playbook: one
    run per playbook, each host moving to deployed or failed by its own job's result.
    409 (and nothing changes) when one of them cannot be provisioned now."""
    launched = await flows.provision_fleet(ctx, body)
    tallies = await runs.tallies(ctx, launched)
    return RunList(items=[RunRead.of(run, tallies[run.id]) for run in launched])


@router.post(
    "/{host_id}/provision",
    status_code=status.HTTP_202_ACCEPTED,
    responses=problem_responses(*AUTH_ERRORS, NotFound, Conflict, ValidationFailed),
)
async def provision_host(host_id: PathId, ctx: Run) -> JobRead:
    """Run the host role's default playbook as a job; the host goes to provisioning, then
    deployed or failed when the job ends. 409 when the host cannot be provisioned now."""
    return JobRead.model_validate(await flows.provision(ctx, host_id))


@router.delete(
    "/{host_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(*AUTH_ERRORS, NotFound, Conflict, ValidationFailed),
)
async def delete_host(
    host_id: PathId, ctx: Write, query: Annotated[HostDeleteQuery, Query()]
) -> None:
    """Deactivate the host (`is_active=false`); `?hard=true` (admins) deletes it and its
    credentials, unless it has job history."""
    await service.delete(ctx, host_id, query.hard)
