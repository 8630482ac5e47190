"""Console pages for secrets: your own (an admin sees everyone's) listed without their
values, stored from a form, given a new value, deleted, and revealed only after the
password is typed again (audited; the value shown once, on the answering page only, not
kept by a browser)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response

from opsledger.db.dependencies import PrimaryReadSession, WriteSession
from opsledger.kit.errors import NotFound, RateLimited, ValidationFailed
from opsledger.kit.http import PathId
from opsledger.secrets import service as secrets
from opsledger.secrets.models import Secret
from opsledger.secrets.schemas import SecretCreate, SecretUpdate
from opsledger.security.context import Ctx
from opsledger.users import service as users
from opsledger.users.endpoints import login_throttle
from opsledger.web.console import (
    act,
    common,
    form_context,
    from_form,
    not_kept,
    page_context,
    page_router,
    parsed,
    refuse,
    render,
    told_when,
)
from opsledger.web.forms import Csrf, Password

router = page_router()
Field = Annotated[str, Form(max_length=500)]
Value = Annotated[str, Form(max_length=70_000)]
MANAGE = "secrets:manage"
SHOWN = 500


async def _list(
    request: Request,
    ctx: Ctx,
    status: int = 200,
    *,
    errors: dict[str, str] | None = None,
    sent: dict[str, str] | None = None,
    revealed: tuple[Secret, str] | None = None,
    keep_changes: bool = False,
) -> Response:
    """The list; a refused form's errors (never a value typed), or a value just revealed."""
    rows = await secrets.page(ctx, SHOWN, None)
    response = render(
        request,
        "secrets.html",
        status,
        keep_changes=keep_changes,
        items=rows.items,
        errors=errors or {},
        sent=sent or {},
        revealed=revealed,
        **common(request, ctx),
    )
    if revealed is not None:
        not_kept(response)
    return response


@router.get("/secrets")
async def secret_list(request: Request, session: PrimaryReadSession) -> Response:
    ctx = await page_context(request, session, MANAGE)
    if isinstance(ctx, Response):
        return ctx
    return await _list(request, ctx)


@router.post("/secrets")
async def store_secret(
    request: Request,
    session: WriteSession,
    service_name: Field = "",
    key_name: Field = "",
    value: Value = "",
    csrf_token: Csrf = "",
) -> Response:
    ctx = await form_context(request, session, MANAGE, csrf_token)
    if isinstance(ctx, Response):
        return ctx
    sent = {"service_name": service_name, "key_name": key_name}
    fields = sent | {"value": value}

    async def save() -> Secret:
        return await secrets.create(ctx, SecretCreate.model_validate(fields))

    async def again(status: int, refused: dict[str, str]) -> Response:
        return await _list(request, ctx, status, errors=refused, sent=sent)

    made = await from_form(save, fields, again, conflict_field="key_name")
    if isinstance(made, Response):
        return made
    return RedirectResponse("/secrets", status_code=303)


@router.post("/secrets/{secret_id}/value")
async def replace_value(
    request: Request,
    session: WriteSession,
    secret_id: PathId,
    value: Value = "",
    csrf_token: Csrf = "",
) -> Response:

    async def replace(ctx: Ctx) -> Any:
        body = parsed(SecretUpdate.model_validate, {"value": value}, "A secret needs a value.")
        return await secrets.replace_value(ctx, secret_id, body.value.get_secret_value())

    return await act(request, session, MANAGE, csrf_token, replace, "/secrets")


@router.post("/secrets/{secret_id}/delete")
async def delete_secret(
    request: Request, session: WriteSession, secret_id: PathId, csrf_token: Csrf = ""
) -> Response:
    return await act(
        request,
        session,
        MANAGE,
        csrf_token,
        lambda ctx: secrets.delete(ctx, secret_id),
        "/secrets",
    )


@router.post("/secrets/{secret_id}/reveal")
async def reveal_secret(
    request: Request,
    session: WriteSession,
    secret_id: PathId,
    password: Password = "",
    csrf_token: Csrf = "",
) -> Response:
    """The value, once the password is typed again; the reveal is audited."""
    ctx = await form_context(request, session, MANAGE, csrf_token)
    if isinstance(ctx, Response):
        return ctx
    try:
        await users.confirm_password(ctx, await login_throttle(request), password)
        secret = await secrets.get(ctx, secret_id)
        value = await secrets.reveal(ctx, secret_id)
    except (ValidationFailed, RateLimited) as exc:
        refused = {f"reveal-{secret_id}": exc.detail}
        audited = isinstance(exc, users.WrongPassword)
        page = await _list(request, ctx, exc.status, errors=refused, keep_changes=audited)
        return told_when(page, exc)
    except NotFound as exc:
        return refuse(request, 404, exc.detail)
    return await _list(request, ctx, revealed=(secret, value))
