"""Console pages for freeze windows: the list (those open now marked, with their end),
and for admins a form that adds one (once, or on a cron in a zone) and deleting one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.db.dependencies import PrimaryReadSession, WriteSession
from opsledger.freeze_windows import service as freeze_windows
from opsledger.freeze_windows.models import FreezeWindow
from opsledger.freeze_windows.schemas import FreezeWindowCreate, FreezeWindowQuery
from opsledger.kit.http import PathId
from opsledger.kit.pagination import Rows
from opsledger.kit.routers import page_router
from opsledger.security.context import Ctx
from opsledger.web import forms
from opsledger.web.console import act, form_context, from_form, list_page
from opsledger.web.forms import Csrf
from opsledger.web.schedules import instant

router = page_router()
Field = Annotated[str, Form(max_length=2000)]
WRITE = "freeze_windows:write"


async def _list(
    request: Request,
    session: AsyncSession,
    status: int = 200,
    errors: dict[str, str] | None = None,
    sent: dict[str, str] | None = None,
) -> Response:
    """The windows, those open now marked; ``errors`` and ``sent`` for a refused form."""

    async def fetch(ctx: Ctx, query: FreezeWindowQuery) -> Rows[Any]:
        return await freeze_windows.page(ctx, query.filters(), query.limit, query.after)

    async def open_now(ctx: Ctx) -> dict[str, Any]:
        opened = await freeze_windows.open_at(ctx)
        return {"open_now": {each.window.id: each for each in opened}}

    return await list_page(
        request,
        session,
        "freeze_windows:read",
        "freeze_windows.html",
        FreezeWindowQuery,
        fetch,
        status,
        open_now,
        form_errors=errors or {},
        sent=sent or {},
    )


@router.get("/freeze-windows")
async def window_list(request: Request, session: PrimaryReadSession) -> Response:
    return await _list(request, session)


@router.post("/freeze-windows")
async def add_window(
    request: Request,
    session: WriteSession,
    name: Field = "",
    starts_at: Field = "",
    ends_at: Field = "",
    cron: Field = "",
    duration_minutes: Field = "",
    timezone: Field = "UTC",
    environments: Field = "",
    host_role_ids: Field = "",
    csrf_token: Csrf = "",
) -> Response:
    ctx = await form_context(request, session, WRITE, csrf_token)
    if isinstance(ctx, Response):
        return ctx
    sent = {
        "name": name,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "cron": cron,
        "duration_minutes": duration_minutes,
        "timezone": timezone,
        "environments": environments,
        "host_role_ids": host_role_ids,
    }
    zone = timezone or "UTC"
    fields = {
        "name": name,
        "starts_at": instant(starts_at, zone),
        "ends_at": instant(ends_at, zone),
        "cron": cron or None,
        "duration_minutes": duration_minutes or None,
        "timezone": zone,
        "environments": forms.items(environments),
        "host_role_ids": forms.items(host_role_ids),
    }

    async def save() -> FreezeWindow:
        return await freeze_windows.create(ctx, FreezeWindowCreate.model_validate(fields))

    async def again(status: int, refused: dict[str, str]) -> Response:
        return await _list(request, session, status, refused, sent)

    window = await from_form(save, fields, again)
    if isinstance(window, Response):
        return window
    return RedirectResponse(f"/freeze-windows#window-{window.id}", status_code=303)


@router.post("/freeze-windows/{window_id}/delete")
async def delete_window(
    request: Request, session: WriteSession, window_id: PathId, csrf_token: Csrf = ""
) -> Response:
    return await act(
        request,
        session,
        WRITE,
        csrf_token,
        lambda ctx: freeze_windows.delete(ctx, window_id),
        "/freeze-windows",
    )
