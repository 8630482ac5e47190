"""Console pages for deployments: the list, and one with its replicas, resources and
status history."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from opsledger.db.dependencies import PrimaryReadSession
from opsledger.deployments import service as deployments
from opsledger.deployments.models import DeploymentStatus
from opsledger.deployments.schemas import DeploymentQuery
from opsledger.kit.http import PathId
from opsledger.kit.pagination import Rows
from opsledger.security.context import Ctx
from opsledger.web.console import common, list_page, page_of_one, render

router = APIRouter(include_in_schema=False)


@router.get("/deployments")
async def deployment_list(request: Request, session: PrimaryReadSession) -> Response:
    async def fetch(ctx: Ctx, query: DeploymentQuery) -> Rows[Any]:
        return await deployments.page(
            ctx, query.filters(), query.include_deleted, query.limit, query.after
        )

    return await list_page(
        request,
        session,
        "deployments:read",
        "deployments.html",
        DeploymentQuery,
        fetch,
        statuses=list(DeploymentStatus),
    )


@router.get("/deployments/{deployment_id}")
async def deployment_page(
    request: Request, session: PrimaryReadSession, deployment_id: PathId
) -> Response:
    """Owners and admins only, as in the API: anyone else gets a 404."""
    found = await page_of_one(
        request,
        session,
        "deployments:read",
        lambda ctx: deployments.get(ctx, deployment_id, detail=True),
    )
    if isinstance(found, Response):
        return found
    ctx, deployment = found
    return render(request, "deployment.html", deployment=deployment, **common(request, ctx))
