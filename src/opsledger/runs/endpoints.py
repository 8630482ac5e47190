"""HTTP for runs: launch one ad hoc, read it with its hosts and its task matrix, cancel
and relaunch it."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, status

from opsledger.jobs.models import Job, JobTask
from opsledger.jobs.plans import RECAP_FIELDS
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
from opsledger.runs import service
from opsledger.runs.models import Run
from opsledger.runs.schemas import (
    RelaunchBody,
    RunCreate,
    RunHostRead,
    RunQuery,
    RunRead,
    RunTaskRead,
    host_result,
)
from opsledger.security.auth import Require, RequireListing, RequireRead
from opsledger.security.context import Ctx

router = api_router("/runs", "runs")
Read = Annotated[Ctx, Depends(RequireRead("jobs:read"))]
Listing = Annotated[Ctx, Depends(RequireListing("jobs:read"))]
Launch = Annotated[Ctx, Depends(Require("jobs:run"))]


async def answer(ctx: Ctx, run: Run) -> RunRead:
    return RunRead.of(run, await service.tally(ctx, run))


def host_read(job: Job) -> RunHostRead:
    return RunHostRead.model_validate(
        {
            **{name: getattr(job, name) for name in (*RECAP_FIELDS, "batch", "error_message")},
            "job_id": job.id,
            "host_id": job.host_id,
            "hostname": job.host.hostname,
            "status": host_result(job),
            "waiting_reason": job.waiting_reason,
        }
    )


def task_read(task: JobTask) -> RunTaskRead:
    return RunTaskRead(
        id=task.id,
        position=task.position,
        task=task.task,
        job_id=task.job_id,
        host_id=task.job.host_id,
        status=task.status,
        changed=task.changed,
        duration_ms=task.duration_ms,
    )


@router.get("", responses=problem_responses(*AUTH_ERRORS, ValidationFailed))
async def list_runs(ctx: Listing, query: Annotated[RunQuery, Query()]) -> Page[RunRead]:
    rows = await service.page(ctx, query.filters(), query.limit, query.after)
    tallies = await service.tallies(ctx, rows.items)
    return rows.read(lambda run: RunRead.of(run, tallies[run.id]))


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    responses=problem_responses(*AUTH_ERRORS, Conflict, ValidationFailed),
)
async def create_run(body: RunCreate, ctx: Launch) -> RunRead:
    """Run a playbook on every host the selector matches now, `batch_size` at a time;
    the answer is the pending run. 409 when a freeze window holds one of the hosts
    (an admin may launch anyway with `override_reason`)."""
    return await answer(ctx, await service.create(ctx, body))


@router.get("/{run_id}", responses=problem_responses(*AUTH_ERRORS, NotFound, ValidationFailed))
async def read_run(run_id: PathId, ctx: Read) -> RunRead:
    return await answer(ctx, await service.get(ctx, run_id))


@router.get(
    "/{run_id}/hosts", responses=problem_responses(*AUTH_ERRORS, NotFound, ValidationFailed)
)
async def read_run_hosts(
    run_id: PathId, ctx: Listing, query: Annotated[ListQuery, Query()]
) -> Page[RunHostRead]:
    """Each host's job with its result and play recap, in launch order."""
    rows = await service.hosts_page(ctx, run_id, query.limit, query.after)
    return rows.read(host_read)


@router.get(
    "/{run_id}/tasks", responses=problem_responses(*AUTH_ERRORS, NotFound, ValidationFailed)
)
async def read_run_tasks(
    run_id: PathId, ctx: Listing, query: Annotated[ListQuery, Query()]
) -> Page[RunTaskRead]:
    """The task-by-host matrix, one cell per item: a task's result on one host."""
    rows = await service.tasks_page(ctx, run_id, query.limit, query.after)
    return rows.read(task_read)


@router.post(
    "/{run_id}/cancel",
    responses=problem_responses(*AUTH_ERRORS, NotFound, Conflict, ValidationFailed),
)
async def cancel_run(run_id: PathId, ctx: Launch) -> RunRead:
    return await answer(ctx, await service.cancel(ctx, run_id))


@router.post(
    "/{run_id}/relaunch",
    status_code=status.HTTP_202_ACCEPTED,
    responses=problem_responses(*AUTH_ERRORS, NotFound, Conflict, ValidationFailed),
)
async def relaunch_run(run_id: PathId, body: RelaunchBody, ctx: Launch) -> RunRead:
    """A new run over this run's failed (or all) hosts, with the same options (409 in a
    freeze window, as for any launch)."""
    run = await service.relaunch(ctx, run_id, body.hosts, override_reason=body.override_reason)
    return await answer(ctx, run)
