"""Console pages for alerts: the list, acknowledge and resolve."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import Request
from fastapi.responses import Response

from opsledger.alerts import service as alerts
from opsledger.alerts.models import AlertSeverity, AlertStatus
from opsledger.alerts.schemas import AlertQuery
from opsledger.db.dependencies import PrimaryReadSession, WriteSession
from opsledger.kit.http import PathId
from opsledger.kit.pagination import Rows
from opsledger.kit.routers import page_router
from opsledger.security.context import Ctx
from opsledger.web.console import act, list_page
from opsledger.web.forms import Csrf

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
