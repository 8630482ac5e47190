"""Console pages for jobs: the list with filters, a job with its output following live
until it ends, cancelling, and launching a playbook on a host."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import Form, Header, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from opsledger.db.dependencies import PrimaryReadSession, WriteSession
from opsledger.jobs import service as jobs
from opsledger.jobs.endpoints import event_stream
from opsledger.jobs.models import JobStatus
from opsledger.jobs.schemas import JobCreate, JobQuery
from opsledger.kit.errors import Conflict, Forbidden, ValidationFailed
from opsledger.kit.http import PathId
from opsledger.kit.pagination import Rows
from opsledger.kit.schemas import MAX_ID
from opsledger.playbooks import service as playbooks
from opsledger.security.context import Ctx
from opsledger.web.console import (
    act,
    common,
    form_context,
    frozen,
    list_page,
    page_context,
    page_of_one,
    page_router,
    problems,
    render,
)
from opsledger.web.forms import CHOICES, QueryId, plain_document
from opsledger.web.hosts import offered

router = page_router("/jobs")
CANCELLABLE = frozenset({JobStatus.pending, JobStatus.running})


@router.get("")
async def job_list(request: Request, session: PrimaryReadSession) -> Response:
    async def fetch(ctx: Ctx, query: JobQuery) -> Rows[Any]:
        return await jobs.page(
            ctx, query.filters(), query.since, query.until, query.limit, query.after
        )

    return await list_page(
        request, session, "jobs:read", "jobs.html", JobQuery, fetch, statuses=list(JobStatus)
    )


async def _launch_form(
    request: Request,
    ctx: Ctx,
    status: int = 200,
    errors: dict[str, str] | None = None,
    **values: Any,
) -> Response:
    active = {"is_active": True}
    return render(
        request,
        "job_new.html",
        status,
        playbooks=(await playbooks.page(ctx, active, CHOICES, None)).items,
        hosts=await offered(ctx, values.get("host_id")),
        errors=errors or {},
        values=values,
        **await frozen(ctx),
        **common(request, ctx),
    )


@router.get("/new")
async def launch_page(
    request: Request,
    session: PrimaryReadSession,
    host_id: QueryId = None,
) -> Response:
    """The launch form; ``host_id`` (a host page's link) is the host chosen."""
    ctx = await page_context(request, session, "jobs:run")
    if isinstance(ctx, Response):
        return ctx
    return await _launch_form(request, ctx, host_id=str(host_id or ""))


@router.post("")
async def launch(
    request: Request,
    session: WriteSession,
    playbook_id: Annotated[str, Form(max_length=20)] = "",
    host_id: Annotated[str, Form(max_length=20)] = "",
    extra_vars: Annotated[str, Form(max_length=100_000)] = "",
    override_reason: Annotated[str, Form(max_length=1000)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    ctx = await form_context(request, session, "jobs:run", csrf_token)
    if isinstance(ctx, Response):
        return ctx
    values = {"playbook_id": playbook_id, "host_id": host_id, "extra_vars": extra_vars}
    try:
        parsed = await asyncio.to_thread(plain_document, extra_vars, "extra vars", dict)
        body = JobCreate.model_validate(
            values | {"extra_vars": parsed, "override_reason": override_reason.strip() or None}
        )
        job = await jobs.create(ctx, body)
    except ValueError as exc:  # pydantic's ValidationError is one
        errors = (
            problems(exc, values) if isinstance(exc, ValidationError) else {"extra_vars": str(exc)}
        )
        return await _launch_form(request, ctx, 422, errors, **values)
    except ValidationFailed as exc:
        return await _launch_form(request, ctx, 422, {"form": exc.detail}, **values)
    except (Conflict, Forbidden) as exc:  # a freeze window holds the host
        return await _launch_form(request, ctx, exc.status, {"form": exc.detail}, **values)
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


@router.get("/{job_id}")
async def job_page(request: Request, session: PrimaryReadSession, job_id: PathId) -> Response:
    found = await page_of_one(request, session, "jobs:read", lambda ctx: jobs.get(ctx, job_id))
    if isinstance(found, Response):
        return found
    ctx, job = found
    return render(
        request, "job.html", job=job, cancellable=job.status in CANCELLABLE, **common(request, ctx)
    )


@router.get("/{job_id}/events")
async def job_events(
    request: Request,
    session: PrimaryReadSession,
    job_id: PathId,
    last_event_id: Annotated[int | None, Header(ge=0, le=MAX_ID)] = None,
) -> Response:
    """The API's server-sent events, for the signed-in browser (EventSource sends the
    session cookie, not an Authorization header); resumes after Last-Event-ID."""
    found = await page_of_one(request, session, "jobs:read", lambda ctx: jobs.get(ctx, job_id))
    if isinstance(found, Response):
        return found
    return event_stream(request, job_id, last_event_id or 0)


@router.post("/{job_id}/cancel")
async def cancel(
    request: Request,
    session: WriteSession,
    job_id: PathId,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    return await act(
        request,
        session,
        "jobs:run",
        csrf_token,
        lambda ctx: jobs.cancel(ctx, job_id),
        f"/jobs/{job_id}",
    )
