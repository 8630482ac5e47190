"""What every console page shares: templates, rendering, and turning the session cookie
into a service context (or a redirect to sign-in, or a refusal)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException as StarletteHTTPException

from opsledger.db.dependencies import discard_changes
from opsledger.freeze_windows import service as freeze_windows
from opsledger.kit.errors import (
    Conflict,
    Forbidden,
    NotFound,
    RateLimited,
    ValidationFailed,
    wire_location,
)
from opsledger.kit.filtering import ListQuery
from opsledger.kit.http import REPEATED
from opsledger.kit.pagination import Rows
from opsledger.kit.routers import EVERY_ROUTE, Route
from opsledger.security.auth import request_info, settings_of
from opsledger.security.context import Ctx
from opsledger.security.policy import allows
from opsledger.web import forms
from opsledger.web import session as web_session

HERE = Path(__file__).parent
M = TypeVar("M", bound=BaseModel)


def changes(
    before: dict[str, Any] | None, after: dict[str, Any] | None
) -> list[tuple[str, Any, Any]]:
    """(field, before, after) for every field an audited change changed, for the diff view."""
    before, after = before or {}, after or {}
    return [
        (field, before.get(field), after.get(field))
        for field in sorted(before.keys() | after.keys())
        if before.get(field) != after.get(field)
    ]


environment = Environment(
    loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True)
)
environment.globals["changes"] = changes
templates = Jinja2Templates(env=environment)


def render(
    request: Request, name: str, status: int = 200, keep_changes: bool = False, **context: Any
) -> HTMLResponse:
    """A page. One answering a failure (status >= 400) rolls the request's changes back
    unless ``keep_changes`` says otherwise (a failed sign-in keeps its audit row)."""
    if status >= 400 and not keep_changes:
        discard_changes(request)
    return templates.TemplateResponse(request, name, context, status_code=status)


def not_kept(response: Response) -> Response:
    """A page with something on it shown once (a key, a password, a revealed value): not
    kept by a browser or a proxy."""
    response.headers["Cache-Control"] = "no-store"
    return response


def told_when(response: Response, exc: Exception) -> Response:
    """A page refusing for ``exc``: a RateLimited one says when to try again."""
    if isinstance(exc, RateLimited):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


class ConsoleRoute(Route):
    """A console page's route. What FastAPI refuses before the page's code runs (a field
    past its bound, a path id out of range, a repeated query key) is answered as a page,
    not as the API's JSON: a form post without this session's token as a forged one
    (403, whatever else it carries), a path that names nothing as missing (404), the rest
    422 naming each field; a form Starlette cannot read (too many fields) as its 400."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                return _refused_input(request, exc)
            except StarletteHTTPException as exc:  # a form Starlette could not read
                return refuse(request, exc.status_code, f"The form was not read: {exc.detail}")

        return answer


def page_router(prefix: str = "") -> APIRouter:
    """Console pages: HTML, outside the API's schema."""
    return APIRouter(
        prefix=prefix,
        include_in_schema=False,
        dependencies=EVERY_ROUTE,
        route_class=ConsoleRoute,
    )


def _refused_input(request: Request, exc: RequestValidationError) -> HTMLResponse:
    if request.method == "POST":
        token = exc.body.get("csrf_token") if isinstance(exc.body, FormData) else None
        token = token if isinstance(token, str) else None
        if not (web_session.csrf_ok(request, token) or web_session.login_csrf_ok(request, token)):
            return refuse(request, 403, "Refused: the form's token is wrong.")
    errors = exc.errors()
    if any(error["loc"][0] == "path" for error in errors):
        return refuse(request, 404, "There is no such page.")
    named = "; ".join(
        f"{'.'.join(str(part) for part in error['loc'][1:])}: {error['msg']}" for error in errors
    )
    return refuse(request, 422, f"Not accepted: {named}. Go back and correct it.")


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


async def frozen(ctx: Ctx) -> dict[str, Any]:
    """What a page that launches shows about freeze windows: those open now, and whether
    this actor may override them (an admin, with a reason)."""
    return {"frozen": await freeze_windows.open_at(ctx), "may_override": ctx.user.is_admin}


def problems(exc: ValidationError, sent: Mapping[str, Any]) -> dict[str, str]:
    """Field name -> message, for showing validation errors next to their inputs (``sent``)."""
    return {
        ".".join(str(p) for p in wire_location(e, sent)) or "form": e["msg"] for e in exc.errors()
    }


def query_of(schema: type[M], request: Request) -> M:
    """The page's query string read with the API's own schema (ValidationError if bad)."""
    fields = {key: value for key, value in request.query_params.items() if value != ""}
    return schema.model_validate(fields)


Q = TypeVar("Q", bound=ListQuery)


async def list_page(
    request: Request,
    session: AsyncSession,
    action: str,
    template: str,
    schema: type[Q],
    fetch: Callable[[Ctx, Q], Awaitable[Rows[Any]]],
    status: int = 200,
    more: Callable[[Ctx], Awaitable[dict[str, Any]]] | None = None,
    **extra: Any,
) -> Response:
    """A filtered, keyset-paged list: the query string read with the API's schema (bad
    filters are shown, not a crash), and ``fetch`` answering one page of it; ``more``
    adds what else the page shows (``status`` for a form on it that was refused)."""
    ctx = await page_context(request, session, action)
    if isinstance(ctx, Response):
        return ctx
    context = {"query": dict(request.query_params), **extra, **common(request, ctx)}
    if more is not None:
        context |= await more(ctx)
    # No list page's filter takes several values: a repeated one is refused, as the API does.
    params = request.query_params
    errors = {key: REPEATED for key in params if len(params.getlist(key)) > 1}
    try:
        query = query_of(schema, request)
    except ValidationError as exc:
        errors |= problems(exc, params)
    if errors:
        return render(request, template, 422, items=[], errors=errors, **context)
    page = await fetch(ctx, query)
    return render(
        request,
        template,
        status,
        items=page.items,
        next_cursor=page.next_cursor,
        errors={},
        **context,
    )


async def act(
    request: Request,
    session: AsyncSession,
    action: str,
    csrf_token: str,
    change: Callable[[Ctx], Awaitable[Any]],
    then: str | Callable[[Any], str],
) -> Response:
    """A form post that changes one thing through its service, then shows ``then``;
    a missing object is 404, a change the service forbids this user 403 (someone else's
    schedule) and a move its status machine refuses 409, as pages."""
    ctx = await form_context(request, session, action, csrf_token)
    if isinstance(ctx, Response):
        return ctx
    return await change_then(request, ctx, change, then)


async def change_then(
    request: Request,
    ctx: Ctx,
    change: Callable[[Ctx], Awaitable[Any]],
    then: str | Callable[[Any], str],
) -> Response:
    """``act`` for a form whose context is already checked."""
    try:
        result = await change(ctx)
    except (NotFound, Forbidden, Conflict, ValidationFailed) as exc:
        return refuse(request, exc.status, exc.detail)
    return RedirectResponse(then if isinstance(then, str) else then(result), status_code=303)


T = TypeVar("T")


def parsed(read: Callable[[Any], T], value: Any, refusal: str) -> T:
    """``read(value)`` (a schema's ``model_validate``, an enum), or ValidationFailed with
    ``refusal``. Called inside an ``act``'s change, so that a form's token and the user's
    role are checked before its fields: a forged post is refused as one (403) whatever it
    carries."""
    try:
        return read(value)
    except ValueError as exc:  # pydantic's ValidationError is one
        raise ValidationFailed(refusal) from exc


# A form shown again: ``again(status, errors by field)``.
Again = Callable[[int, dict[str, str]], Awaitable[Response]]


async def from_form(
    save: Callable[[], Awaitable[T]],
    fields: Mapping[str, Any],
    again: Again,
    conflict_field: str = "name",
) -> T | Response:
    """What ``save`` makes of a form's ``fields``, or the form again with each refusal
    beside its field: the schema's or the service's (422), a conflict (409, beside
    ``conflict_field``: a name taken), a change this user may not make (403)."""
    try:
        return await save()
    except ValidationError as exc:
        return await again(422, problems(exc, fields))
    except ValidationFailed as exc:
        return await again(422, forms.refusal_fields(exc))
    except Conflict as exc:
        return await again(409, {conflict_field: exc.detail})
    except Forbidden as exc:
        return await again(403, {"form": exc.detail})


async def form_of_one(
    request: Request,
    session: AsyncSession,
    action: str,
    csrf_token: str,
    lookup: Callable[[Ctx], Awaitable[T]],
) -> tuple[Ctx, T] | Response:
    """``form_context`` and the one object the form posts to, or a 404 page saying what
    is missing."""
    ctx = await form_context(request, session, action, csrf_token)
    if isinstance(ctx, Response):
        return ctx
    try:
        return ctx, await lookup(ctx)
    except NotFound as exc:
        return refuse(request, 404, exc.detail)


async def change_one(
    request: Request,
    session: AsyncSession,
    action: str,
    csrf_token: str,
    lookup: Callable[[Ctx], Awaitable[T]],
    fields: Mapping[str, Any],
    change: Callable[[Ctx, T], Awaitable[Any]],
    again: Callable[[Ctx, T, int, dict[str, str]], Awaitable[Response]],
    then: str | Callable[[Any], str],
    conflict_field: str = "name",
) -> Response:
    """A form on one object's page: its token and the user's role checked, the object
    looked up (a 404 page), ``change`` made of the form's ``fields`` and ``then`` shown
    (or ``then(what the change made)``), or the page again (``again``) with each refusal
    beside its field, as ``from_form``."""
    found = await form_of_one(request, session, action, csrf_token, lookup)
    if isinstance(found, Response):
        return found
    ctx, one = found

    async def refused(status: int, errors: dict[str, str]) -> Response:
        return await again(ctx, one, status, errors)

    changed = await from_form(lambda: change(ctx, one), fields, refused, conflict_field)
    if isinstance(changed, Response):
        return changed
    return RedirectResponse(then if isinstance(then, str) else then(changed), status_code=303)


async def page_of_one(
    request: Request, session: AsyncSession, action: str, lookup: Callable[[Ctx], Awaitable[T]]
) -> tuple[Ctx, T] | Response:
    """``page_context`` and the one object the page shows, or a 404 page saying what is
    missing."""
    ctx = await page_context(request, session, action)
    if isinstance(ctx, Response):
        return ctx
    try:
        return ctx, await lookup(ctx)
    except NotFound as exc:
        return refuse(request, 404, f"{exc.detail[:1].upper()}{exc.detail[1:]}.")
