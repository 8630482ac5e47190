"""Console pages for freeze windows: the list (those open now marked, with their end), a
window's page, and for admins a form that adds one (once, or on a cron in a zone),
changing one and deleting one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import Field as PydanticField
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.db.dependencies import PrimaryReadSession, WriteSession
from opsledger.freeze_windows import service as freeze_windows
from opsledger.freeze_windows.models import FreezeWindow
from opsledger.freeze_windows.schemas import (
    ActiveQuery,
    FreezeWindowCreate,
    FreezeWindowQuery,
    FreezeWindowUpdate,
)
from opsledger.kit.http import PathId
from opsledger.kit.pagination import Rows
from opsledger.schedules import cron
from opsledger.security.context import Ctx
from opsledger.web import forms
from opsledger.web.console import (
    act,
    change_one,
    common,
    form_context,
    from_form,
    list_page,
    page_context,
    page_of_one,
    page_router,
    render,
)
from opsledger.web.forms import Csrf
from opsledger.web.schedules import changed, instant, typed

router = page_router()
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


@router.get("/freeze-windows/at")
async def frozen_at(
    request: Request,
    session: PrimaryReadSession,
    at: Annotated[str, Query(max_length=100)] = "",
    timezone: Annotated[str, Query(max_length=100)] = "UTC",
) -> Response:
    """What is frozen at a time to come (or past), read in a zone: every window open
    then, since when and until when, as GET /freeze-windows/active?at= answers."""
    ctx = await page_context(request, session, "freeze_windows:read")
    if isinstance(ctx, Response):
        return ctx
    opened: list[freeze_windows.Opening] = []
    errors: dict[str, str] = {}
    try:
        cron.zone(timezone)
    except cron.BadTiming as exc:
        errors["timezone"] = str(exc)
    if at and not errors:
        try:
            moment = ActiveQuery.model_validate({"at": instant(at, timezone)}).at
            opened = await freeze_windows.open_at(ctx, moment)
        except ValidationError as exc:
            errors["at"] = "; ".join(error["msg"] for error in exc.errors())
    return render(
        request,
        "freeze_windows_at.html",
        422 if errors else 200,
        at=at,
        timezone=timezone,
        opened=opened,
        errors=errors,
        **common(request, ctx),
    )


class WindowForm(forms.Typed):
    name: str = PydanticField("", max_length=2000)
    starts_at: str = PydanticField("", max_length=2000)
    ends_at: str = PydanticField("", max_length=2000)
    cron: str = PydanticField("", max_length=2000)
    duration_minutes: str = PydanticField("", max_length=2000)
    timezone: str = PydanticField("UTC", max_length=2000)
    environments: str = PydanticField("", max_length=2000)
    host_role_ids: str = PydanticField("", max_length=2000)

    def fields(self) -> dict[str, Any]:
        """The window as the API's body holds it (times read in its zone; blank: none)."""
        zone = self.timezone or "UTC"
        return {
            "name": self.name,
            "starts_at": instant(self.starts_at, zone),
            "ends_at": instant(self.ends_at, zone),
            "cron": self.cron or None,
            "duration_minutes": self.duration_minutes or None,
            "timezone": zone,
            "environments": forms.items(self.environments),
            "host_role_ids": forms.items(self.host_role_ids),
        }


Fields = Annotated[WindowForm, Form()]


@router.post("/freeze-windows")
async def add_window(request: Request, session: WriteSession, form: Fields) -> Response:
    ctx = await form_context(request, session, WRITE, form.csrf_token)
    if isinstance(ctx, Response):
        return ctx
    fields = form.fields()

    async def save() -> FreezeWindow:
        return await freeze_windows.create(ctx, FreezeWindowCreate.model_validate(fields))

    async def again(status: int, refused: dict[str, str]) -> Response:
        return await _list(request, session, status, refused, form.sent())

    window = await from_form(save, fields, again)
    if isinstance(window, Response):
        return window
    return RedirectResponse(f"/freeze-windows#window-{window.id}", status_code=303)


def _as_sent(window: FreezeWindow) -> dict[str, str]:
    """A window as its form shows it (its times in its zone)."""
    return {
        "name": window.name,
        "starts_at": typed(window.starts_at, window.timezone),
        "ends_at": typed(window.ends_at, window.timezone),
        "cron": window.cron or "",
        "duration_minutes": "" if window.duration_minutes is None else str(window.duration_minutes),
        "timezone": window.timezone,
        "environments": ", ".join(window.environments or []),
        "host_role_ids": ", ".join(str(role) for role in window.host_role_ids or []),
    }


async def _page(
    request: Request,
    ctx: Ctx,
    window: FreezeWindow,
    status: int = 200,
    errors: dict[str, str] | None = None,
    sent: dict[str, str] | None = None,
) -> Response:
    return render(
        request,
        "freeze_window.html",
        status,
        window=window,
        form_errors=errors or {},
        sent=sent if sent is not None else _as_sent(window),
        **common(request, ctx),
    )


@router.get("/freeze-windows/{window_id}")
async def window_page(request: Request, session: PrimaryReadSession, window_id: PathId) -> Response:
    found = await page_of_one(
        request, session, "freeze_windows:read", lambda ctx: freeze_windows.get(ctx, window_id)
    )
    if isinstance(found, Response):
        return found
    return await _page(request, *found)


@router.post("/freeze-windows/{window_id}")
async def change_window(
    request: Request, session: WriteSession, window_id: PathId, form: Fields
) -> Response:
    """Any of it: once becomes each time (or the other way round) with the times given;
    what the form sends as the page showed it stays as stored."""
    fields = form.fields()

    async def save(ctx: Ctx, window: FreezeWindow) -> FreezeWindow:
        moved = changed(form.sent(), _as_sent(window))
        body = FreezeWindowUpdate.model_validate(
            {name: value for name, value in fields.items() if name in moved}
        )
        return await freeze_windows.update(ctx, window_id, body)

    async def again(
        ctx: Ctx, window: FreezeWindow, status: int, refused: dict[str, str]
    ) -> Response:
        return await _page(request, ctx, window, status, refused, form.sent())

    return await change_one(
        request,
        session,
        WRITE,
        form.csrf_token,
        lambda ctx: freeze_windows.get(ctx, window_id),
        fields,
        save,
        again,
        f"/freeze-windows/{window_id}",
    )


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
