"""Console pages for hosts (with their role, credential metadata, recent jobs and a
Provision button), deployments (replicas, resources, status history), alerts
(acknowledge, resolve) and the audit trail (admins; what each change changed)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from opsledger import flows
from opsledger.alerts import service as alerts
from opsledger.alerts.models import AlertSeverity, AlertStatus
from opsledger.alerts.schemas import AlertQuery
from opsledger.audit import service as audit
from opsledger.audit.schemas import AuditQuery
from opsledger.credentials import service as credentials
from opsledger.db.dependencies import PrimaryReadSession, WriteSession
from opsledger.deployments import service as deployments
from opsledger.deployments.models import DeploymentStatus
from opsledger.deployments.schemas import DeploymentQuery
from opsledger.host_roles import service as host_roles
from opsledger.hosts import service as hosts
from opsledger.hosts.models import HostStatus
from opsledger.hosts.schemas import HostQuery
from opsledger.jobs import service as jobs
from opsledger.kit.pagination import Rows
from opsledger.kit.schemas import PathId
from opsledger.security.context import Ctx
from opsledger.security.policy import allows
from opsledger.web.views import act, common, list_page, page_of_one, render

router = APIRouter(include_in_schema=False)
RECENT_JOBS = 10
CREDENTIALS_SHOWN = 100
Csrf = Annotated[str, Form(max_length=200)]


@router.get("/hosts")
async def host_list(request: Request, session: PrimaryReadSession) -> Response:
    async def fetch(ctx: Ctx, query: HostQuery) -> Rows[Any]:
        return await hosts.page(ctx, query.filters(), query.tag, query.limit, query.after)

    return await list_page(
        request, session, "hosts:read", "hosts.html", HostQuery, fetch, statuses=list(HostStatus)
    )


@router.get("/hosts/{host_id}")
async def host_page(request: Request, session: PrimaryReadSession, host_id: PathId) -> Response:
    found = await page_of_one(request, session, "hosts:read", lambda ctx: hosts.get(ctx, host_id))
    if isinstance(found, Response):
        return found
    ctx, host = found
    role = await host_roles.get(ctx, host.host_role_id) if host.host_role_id else None
    shown_credentials = (
        (await credentials.page(ctx, host.id, {}, CREDENTIALS_SHOWN, None)).items
        if allows(ctx.user.role, "credentials:read", ctx.user.scopes)
        else None
    )
    return render(
        request,
        "host.html",
        host=host,
        role=role,
        credentials=shown_credentials,
        jobs=await jobs.latest(ctx, RECENT_JOBS, host.id),
        **common(request, ctx),
    )


@router.post("/hosts/{host_id}/provision")
async def provision(
    request: Request, session: WriteSession, host_id: PathId, csrf_token: Csrf = ""
) -> Response:
    return await act(
        request,
        session,
        "jobs:run",
        csrf_token,
        lambda ctx: flows.provision(ctx, host_id),
        lambda job: f"/jobs/{job.id}",
    )


@router.get("/alerts")
async def alert_list(request: Request, session: PrimaryReadSession) -> Response:
    async def fetch(ctx: Ctx, query: AlertQuery) -> Rows[Any]:
        return await alerts.page(ctx, query.filters(), query.limit, query.after)

    return await list_page(
        request,
        session,
        "alerts:read",
        "alerts.html",
        AlertQuery,
        fetch,
        statuses=list(AlertStatus),
        severities=list(AlertSeverity),
    )


ALERT_MOVES = {"acknowledge": alerts.acknowledge, "resolve": alerts.resolve}


@router.post("/alerts/{alert_id}/{verb}")
async def move_alert(
    request: Request,
    session: WriteSession,
    alert_id: PathId,
    verb: Literal["acknowledge", "resolve"],
    csrf_token: Csrf = "",
) -> Response:
    return await act(
        request,
        session,
        "alerts:write",
        csrf_token,
        lambda ctx: ALERT_MOVES[verb](ctx, alert_id),
        "/alerts",
    )


@router.get("/audit")
async def audit_list(request: Request, session: PrimaryReadSession) -> Response:
    async def fetch(ctx: Ctx, query: AuditQuery) -> Rows[Any]:
        return await audit.page(
            ctx.session, limit=query.limit, before_id=query.after, **query.filters()
        )

    return await list_page(request, session, "audit:read", "audit.html", AuditQuery, fetch)


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
