"""Console pages for hosts: the list, a host with its role, credential metadata and
recent jobs, and the Provision button."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from opsledger import flows
from opsledger.credentials import service as credentials
from opsledger.db.dependencies import PrimaryReadSession, WriteSession
from opsledger.host_roles import service as host_roles
from opsledger.hosts import service as hosts
from opsledger.hosts.models import HostStatus
from opsledger.hosts.schemas import HostQuery
from opsledger.jobs import service as jobs
from opsledger.kit.http import PathId
from opsledger.kit.pagination import Rows
from opsledger.security.context import Ctx
from opsledger.security.policy import allows
from opsledger.web.console import act, common, list_page, page_of_one, render

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
