"""Console pages for alerts: the list, one raised by hand, acknowledge and resolve."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import Field as PydanticField

from opsledger.alerts import service as alerts
from opsledger.alerts.models import AlertSeverity, AlertStatus
from opsledger.alerts.schemas import AlertCreate, AlertQuery
from opsledger.db.dependencies import PrimaryReadSession, WriteSession
from opsledger.deployments import service as deployments
from opsledger.kit.http import PathId
from opsledger.kit.pagination import Rows
from opsledger.security.context import Ctx
from opsledger.web import forms
from opsledger.web.console import (
    act,
    common,
    form_context,
    from_form,
    list_page,
    page_context,
    page_router,
    render,
)
from opsledger.web.forms import Csrf, QueryId
from opsledger.web.hosts import offered

router = page_router()


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


WRITE = "alerts:write"


class AlertForm(forms.Typed):
    source: str = PydanticField("console", max_length=2000)
    severity: str = PydanticField("warning", max_length=50)
    title: str = PydanticField("", max_length=2000)
    description: str = PydanticField("", max_length=20_000)
    host_id: str = PydanticField("", max_length=30)
    deployment_id: str = PydanticField("", max_length=30)
    labels: str = PydanticField("", max_length=50_000)
    fingerprint: str = PydanticField("", max_length=2000)


async def _form(
    request: Request,
    ctx: Ctx,
    status: int = 200,
    errors: dict[str, str] | None = None,
    sent: dict[str, str] | None = None,
) -> Response:
    sent = sent if sent is not None else AlertForm().sent()
    running = await deployments.page(ctx, {}, False, forms.CHOICES, None)
    return render(
        request,
        "alert_new.html",
        status,
        severities=list(AlertSeverity),
        hosts=await offered(ctx, sent["host_id"]),
        deployments=running.items,
        errors=errors or {},
        sent=sent,
        **common(request, ctx),
    )


@router.get("/alerts/new")
async def new_alert_page(
    request: Request,
    session: PrimaryReadSession,
    host_id: QueryId = None,
) -> Response:
    """The form; ``host_id`` (a host page's link) is the host it is raised on."""
    ctx = await page_context(request, session, WRITE)
    if isinstance(ctx, Response):
        return ctx
    return await _form(request, ctx, sent=AlertForm().sent() | {"host_id": str(host_id or "")})


@router.post("/alerts")
async def raise_alert(
    request: Request, session: WriteSession, form: Annotated[AlertForm, Form()]
) -> Response:
    """An alert raised by hand (its source ``console`` unless another is named), as a
    monitoring system raises one: an open alert of the same fingerprint is updated
    instead."""
    ctx = await form_context(request, session, WRITE, form.csrf_token)
    if isinstance(ctx, Response):
        return ctx
    sent = form.sent()
    fields = {
        "source": form.source.strip(),
        "severity": form.severity,
        "title": form.title,
        "description": form.description or None,
        "host_id": form.host_id or None,
        "deployment_id": form.deployment_id or None,
        "labels": forms.pairs(form.labels, lines_only=True),
        "fingerprint": form.fingerprint.strip() or None,
    }

    async def save() -> Any:
        return (await alerts.raise_alert(ctx, AlertCreate.model_validate(fields)))[0]

    async def again(status: int, refused: dict[str, str]) -> Response:
        return await _form(request, ctx, status, refused, sent)

    raised = await from_form(save, fields, again, conflict_field="fingerprint")
    if isinstance(raised, Response):
        return raised
    return RedirectResponse(f"/alerts#alert-{raised.id}", status_code=303)


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
        WRITE,
        csrf_token,
        lambda ctx: ALERT_MOVES[verb](ctx, alert_id),
        "/alerts",
    )
