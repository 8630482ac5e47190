"""What every console page shares: templates, rendering, and turning the session cookie
into a service context (or a redirect to sign-in, or a refusal)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.security.auth import request_info, settings_of
from opsledger.security.context import Ctx
from opsledger.security.policy import allows
from opsledger.web import session as web_session

HERE = Path(__file__).parent
M = TypeVar("M", bound=BaseModel)
templates = Jinja2Templates(
    env=Environment(
        loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True)
    )
)


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context, status_code=status)


def refuse(request: Request, status: int, message: str) -> HTMLResponse:
    return render(request, "error.html", status, message=message)


def to_login() -> RedirectResponse:
    return RedirectResponse("/login", status_code=303)


async def page_context(request: Request, session: AsyncSession, action: str) -> Ctx | Response:
    """The signed-in actor's context, if the policy lets their role ``action``."""
    actor = await web_session.signed_in(request, session)
    if actor is None:
        return to_login()
    if not allows(actor.role, action, actor.scopes):
        return refuse(request, 403, "Your role may not do this.")
    return Ctx(session, settings_of(request), actor, request_info(request))


async def form_context(
    request: Request, session: AsyncSession, action: str, csrf_token: str
) -> Ctx | Response:
    """``page_context`` for a form post, which must carry this session's CSRF token."""
    if not web_session.csrf_ok(request, csrf_token):
        return refuse(request, 403, "Refused: the form's token is wrong.")
    return await page_context(request, session, action)


def common(request: Request, ctx: Ctx) -> dict[str, Any]:
    """What the layout needs: the actor, the form token, and which actions to offer."""
    token = request.cookies.get(web_session.SESSION_COOKIE, "")
    actor = ctx.user
    return {
        "actor": actor,
        "csrf_token": web_session.csrf_token(request, token),
        "may": lambda action: allows(actor.role, action, actor.scopes),
    }


def problems(exc: ValidationError) -> dict[str, str]:
    """Field name -> message, for showing validation errors next to their inputs."""
    return {".".join(str(p) for p in e["loc"]) or "form": e["msg"] for e in exc.errors()}


def query_of(schema: type[M], request: Request) -> M:
    """The page's query string read with the API's own schema (ValidationError if bad)."""
    fields = {key: value for key, value in request.query_params.items() if value != ""}
    return schema.model_validate(fields)
