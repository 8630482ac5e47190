"""The web console: server-rendered pages over the same services the API uses.

Every page reads its actor from the session cookie and is refused by the same policy
table as the API; every form carries a CSRF token."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import SecretStr

from opsledger.db.dependencies import PrimaryReadSession, WriteSession
from opsledger.jobs import service as jobs
from opsledger.kit.errors import RateLimited
from opsledger.security.auth import anonymous_context
from opsledger.security.context import Ctx
from opsledger.stats import service as stats
from opsledger.users import service as users
from opsledger.users.endpoints import login_throttle
from opsledger.users.schemas import LoginRequest
from opsledger.web import session as web_session
from opsledger.web.console import (
    common,
    frozen,
    page_context,
    page_router,
    refuse,
    render,
    to_login,
    told_when,
)

router = page_router()
LATEST_JOBS = 10


@router.get("/login")
async def login_page(request: Request) -> HTMLResponse:
    return _login_form(request)


def _login_form(
    request: Request, status: int = 200, error: str | None = None, username: str = ""
) -> HTMLResponse:
    """The sign-in form; after a refusal with the username typed (never the password)."""
    token = web_session.new_login_csrf()
    # A refused sign-in is audited: its row commits with the refusal.
    response = render(
        request,
        "login.html",
        status,
        keep_changes=True,
        csrf_token=token,
        error=error,
        username=username,
    )
    web_session.offer_login(response, request, token)
    return response


@router.post("/login")
async def sign_in(
    request: Request,
    ctx: Annotated[Ctx, Depends(anonymous_context)],
    username: Annotated[str, Form(max_length=80)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    if not web_session.login_csrf_ok(request, csrf_token):
        # Not what was sent: another site may have sent it.
        return _login_form(request, 403, "The form expired: please sign in again.")
    try:
        body = LoginRequest(username=username, password=SecretStr(password))
        token = await users.login(ctx, await login_throttle(request), body)
    except RateLimited as exc:
        limited = _login_form(request, 429, "Too many failed sign-ins: try again later.", username)
        return told_when(limited, exc)
    except ValueError:
        token = None
    if token is None:
        return _login_form(request, 401, "Wrong username or password.", username)
    response = RedirectResponse("/", status_code=303)
    web_session.start(response, request, token.access_token, token.expires_in)
    return response


@router.post("/logout")
async def sign_out(
    request: Request,
    session: WriteSession,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Ends this browser's session, server-side too: the cookie's token is refused from
    now on wherever it is presented. Other sessions and tokens stay valid."""
    if not web_session.csrf_ok(request, csrf_token):
        return refuse(request, 403, "Refused: the form's token is wrong.")
    ctx = await page_context(request, session, "self")
    if isinstance(ctx, Ctx):  # else the session had ended already
        await users.logout(ctx)
    response = to_login()
    web_session.end(response)
    return response


@router.get("/")
async def overview(request: Request, session: PrimaryReadSession) -> Response:
    ctx = await page_context(request, session, "stats:read")
    if isinstance(ctx, Response):
        return ctx
    numbers = await stats.collect(session)
    recent = await jobs.latest(ctx, LATEST_JOBS)
    return render(
        request,
        "overview.html",
        stats=numbers,
        jobs=recent,
        **await frozen(ctx),
        **common(request, ctx),
    )
