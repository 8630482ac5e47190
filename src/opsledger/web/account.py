"""The signed-in user's own page: change the password or sign out everywhere (both end
every session and token, this browser's too), and API keys: made with an optional expiry
and scopes (the key shown once, on the answering page only, not kept by a browser),
revoked; an admin sees everyone's."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import Response
from pydantic import ValidationError

from opsledger.api_keys import service as api_keys
from opsledger.api_keys.models import ApiKey
from opsledger.api_keys.schemas import ApiKeyCreate
from opsledger.db.dependencies import PrimaryReadSession, WriteSession
from opsledger.kit.errors import RateLimited, ValidationFailed
from opsledger.kit.http import PathId
from opsledger.security.context import Ctx
from opsledger.users import service as users
from opsledger.users.endpoints import login_throttle
from opsledger.users.schemas import PasswordChange
from opsledger.web import forms
from opsledger.web import session as web_session
from opsledger.web.console import (
    act,
    common,
    form_context,
    from_form,
    not_kept,
    page_context,
    page_router,
    problems,
    render,
    to_login,
    told_when,
)
from opsledger.web.forms import Csrf, Password
from opsledger.web.schedules import instant

router = page_router()
Field = Annotated[str, Form(max_length=2000)]
SELF, KEYS = "self", "api_keys:manage"
KEYS_SHOWN = 200


async def _page(
    request: Request,
    ctx: Ctx,
    status: int = 200,
    *,
    password_errors: dict[str, str] | None = None,
    key_errors: dict[str, str] | None = None,
    sent: dict[str, str] | None = None,
    made: tuple[ApiKey, str] | None = None,
    keep_changes: bool = False,
) -> Response:
    """The account page; a refused form's errors (no password typed is shown back), or
    the key just made, shown once."""
    keys = await api_keys.page(ctx, KEYS_SHOWN, None)
    response = render(
        request,
        "account.html",
        status,
        keep_changes=keep_changes,
        keys=keys.items,
        password_errors=password_errors or {},
        key_errors=key_errors or {},
        sent=sent or {},
        made=made,
        **common(request, ctx),
    )
    if made is not None:
        not_kept(response)
    return response


@router.get("/account")
async def account_page(request: Request, session: PrimaryReadSession) -> Response:
    ctx = await page_context(request, session, SELF)
    if isinstance(ctx, Response):
        return ctx
    return await _page(request, ctx)


def _signed_out() -> Response:
    """To the sign-in page, this browser's session ended (the server ended it already)."""
    response = to_login()
    web_session.end(response)
    return response


@router.post("/account/password")
async def change_password(
    request: Request,
    session: WriteSession,
    current_password: Password = "",
    new_password: Password = "",
    csrf_token: Csrf = "",
) -> Response:
    """A new password ends every session and token, this one too: sign in again."""
    ctx = await form_context(request, session, SELF, csrf_token)
    if isinstance(ctx, Response):
        return ctx
    fields = {"current_password": current_password, "new_password": new_password}
    try:
        body = PasswordChange.model_validate(fields)
        await users.change_own_password(
            ctx,
            await login_throttle(request),
            body.current_password.get_secret_value(),
            body.new_password.get_secret_value(),
        )
    except ValidationError as exc:
        return await _page(request, ctx, 422, password_errors=problems(exc, fields))
    except (ValidationFailed, RateLimited) as exc:
        refused = {"current_password": exc.detail}
        if isinstance(exc, ValidationFailed) and exc.errors:  # the new one, by the policy
            refused = forms.refusal_fields(exc)
        page = await _page(
            request,
            ctx,
            exc.status,
            password_errors=refused,
            keep_changes=isinstance(exc, users.WrongPassword),  # its audit row
        )
        return told_when(page, exc)
    return _signed_out()


@router.post("/account/logout-all")
async def sign_out_everywhere(
    request: Request, session: WriteSession, csrf_token: Csrf = ""
) -> Response:
    ctx = await form_context(request, session, SELF, csrf_token)
    if isinstance(ctx, Response):
        return ctx
    await users.logout_all(ctx)
    return _signed_out()


def _key_fields(name: str, expires_at: str, scopes: str) -> dict[str, Any]:
    """The key the form asks for, as the API's body would hold it (the expiry read in
    UTC)."""
    return {
        "name": name,
        "expires_at": instant(expires_at, "UTC"),
        "scopes": forms.items(scopes),
    }


@router.post("/account/api-keys")
async def create_key(
    request: Request,
    session: WriteSession,
    name: Field = "",
    expires_at: Field = "",
    scopes: Field = "",
    csrf_token: Csrf = "",
) -> Response:
    ctx = await form_context(request, session, KEYS, csrf_token)
    if isinstance(ctx, Response):
        return ctx
    sent = {"name": name, "expires_at": expires_at, "scopes": scopes}
    fields = _key_fields(name, expires_at, scopes)

    async def save() -> tuple[ApiKey, str]:
        return await api_keys.create(ctx, ApiKeyCreate.model_validate(fields))

    async def again(status: int, refused: dict[str, str]) -> Response:
        return await _page(request, ctx, status, key_errors=refused, sent=sent)

    made = await from_form(save, fields, again)
    if isinstance(made, Response):
        return made
    return await _page(request, ctx, 201, made=made)


@router.post("/account/api-keys/{key_id}/revoke")
async def revoke_key(
    request: Request, session: WriteSession, key_id: PathId, csrf_token: Csrf = ""
) -> Response:
    return await act(
        request,
        session,
        KEYS,
        csrf_token,
        lambda ctx: api_keys.revoke(ctx, key_id),
        "/account#api-keys",
    )
