"""HTTP for deployments."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, status

from opsledger.deployments import service
from opsledger.deployments.schemas import (
    DeploymentCreate,
    DeploymentDetail,
    DeploymentQuery,
    DeploymentRead,
    DeploymentScale,
    DeploymentStatusChange,
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

router = api_router("/deployments", "deployments")
Read = Annotated[Ctx, Depends(RequireRead("deployments:read"))]
Listing = Annotated[Ctx, Depends(RequireListing("deployments:read"))]
Write = Annotated[Ctx, Depends(Require("deployments:write"))]
CHANGE_ERRORS = problem_responses(*AUTH_ERRORS, NotFound, Conflict, ValidationFailed)


@router.get("", responses=problem_responses(*AUTH_ERRORS, ValidationFailed))
async def list_deployments(
    ctx: Listing, query: Annotated[DeploymentQuery, Query()]
) -> Page[DeploymentRead]:
    """Your deployments (admins: everyone's); deleted ones only with `include_deleted`."""
    rows = await service.page(ctx, query.filters(), query.include_deleted, query.limit, query.after)
    return rows.read(DeploymentRead.model_validate)


@router.get(
    "/{deployment_id}", responses=problem_responses(*AUTH_ERRORS, NotFound, ValidationFailed)
)
async def read_deployment(deployment_id: PathId, ctx: Read) -> DeploymentDetail:
    """With its resources, replicas and status history."""
    return DeploymentDetail.model_validate(await service.get(ctx, deployment_id, detail=True))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(*AUTH_ERRORS, Conflict, ValidationFailed),
)
async def create_deployment(body: DeploymentCreate, ctx: Write) -> DeploymentDetail:
    return DeploymentDetail.model_validate(await service.create(ctx, body))


@router.post("/{deployment_id}/scale", responses=CHANGE_ERRORS)
async def scale_deployment(
    deployment_id: PathId, body: DeploymentScale, ctx: Write
) -> DeploymentDetail:
    return DeploymentDetail.model_validate(
        await service.scale(ctx, deployment_id, body.target_replicas)
    )


@router.patch("/{deployment_id}/status", responses=CHANGE_ERRORS)
async def change_deployment_status(
    deployment_id: PathId, body: DeploymentStatusChange, ctx: Write
) -> DeploymentDetail:
    """Move along the status machine; the change and its reason join the history."""
    return DeploymentDetail.model_validate(await service.set_status(ctx, deployment_id, body))


@router.delete("/{deployment_id}", status_code=status.HTTP_204_NO_CONTENT, responses=CHANGE_ERRORS)
async def delete_deployment(deployment_id: PathId, ctx: Write) -> None:
    """Soft delete: marked deleted with a timestamp; the name can be used again."""
    await service.delete(ctx, deployment_id)
