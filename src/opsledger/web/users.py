"""Console pages for user accounts (admins): the list with a form that creates one (with
the password the admin types, or one generated and shown once, on the answering page
only, not kept by a browser), and a user's page: email, role, deactivating and
reactivating, a new password (typed or generated, as on creation), unlocking after failed
sign-ins. The last active admin cannot be demoted or deactivated (409)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.db.dependencies import PrimaryReadSession, WriteSession
from opsledger.kit.http import PathId
from opsledger.security import passwords
from opsledger.security.context import Ctx
from opsledger.users import service as users
from opsledger.users.models import User, UserRole
from opsledger.users.schemas import UserCreate, UserUpdate
from opsledger.web.console import (
    act,
    change_one,
    common,
    form_context,
    form_of_one,
    from_form,
    not_kept,
    page_context,
    page_of_one,
    page_router,
    parsed,
    render,
)
from opsledger.web.forms import Csrf, Password

router = page_router()
Field = Annotated[str, Form(max_length=500)]
READ, WRITE = "users:read", "users:write"
USERS_SHOWN = 500


async def _list(
    request: Request,
    ctx: Ctx,
    status: int = 200,
    errors: dict[str, str] | None = None,
    sent: dict[str, str] | None = None,
) -> Response:
    rows = await users.page(ctx, USERS_SHOWN, None)
    return render(
        request,
        "users.html",
        status,
        items=rows.items,
        roles=list(UserRole),
        errors=errors or {},
        sent=sent or {},
        **common(request, ctx),
    )


@router.get("/users")
async def user_list(request: Request, session: PrimaryReadSession) -> Response:
    ctx = await page_context(request, session, READ)
    if isinstance(ctx, Response):
        return ctx
    return await _list(request, ctx)


def _user_page(
    request: Request,
    ctx: Ctx,
    user: User,
    status: int = 200,
    password: str | None = None,
    errors: dict[str, str] | None = None,
    sent: dict[str, str] | None = None,
) -> Response:
    """A user; ``password`` one just made for them (shown once, the page not kept);
    after a refused email change, why beside the field and what was typed."""
    response = render(
        request,
        "user.html",
        status,
        user=user,
        roles=list(UserRole),
        password=password,
        errors=errors or {},
        sent=sent or {},
        **common(request, ctx),
    )
    return not_kept(response) if password else response


@router.post("/users")
async def create_user(
    request: Request,
    session: WriteSession,
    username: Field = "",
    email: Field = "",
    role: Field = "viewer",
    password: Password = "",
    csrf_token: Csrf = "",
) -> Response:
    """A user with the password the admin typed, or else one generated and shown once."""
    ctx = await form_context(request, session, WRITE, csrf_token)
    if isinstance(ctx, Response):
        return ctx
    generated = "" if password else passwords.generate()
    sent = {"username": username, "email": email, "role": role}  # never the password
    fields: dict[str, Any] = sent | {"password": password or generated}

    async def save() -> User:
        return await users.create(ctx, UserCreate.model_validate(fields))

    async def again(status: int, refused: dict[str, str]) -> Response:
        return await _list(request, ctx, status, refused, sent)

    made = await from_form(save, fields, again, conflict_field="username")
    if isinstance(made, Response):
        return made
    return _user_page(request, ctx, made, 201, generated)


@router.get("/users/{user_id}")
async def user_page(request: Request, session: PrimaryReadSession, user_id: PathId) -> Response:
    found = await page_of_one(request, session, READ, lambda ctx: users.get(ctx, user_id))
    if isinstance(found, Response):
        return found
    return _user_page(request, *found)


async def _update(
    request: Request, session: AsyncSession, user_id: int, csrf_token: str, fields: dict[str, Any]
) -> Response:

    async def update(ctx: Ctx) -> Any:
        body = parsed(UserUpdate.model_validate, fields, f"Not a change a user can take: {fields}.")
        return await users.update(ctx, user_id, body)

    return await act(request, session, WRITE, csrf_token, update, f"/users/{user_id}")


@router.post("/users/{user_id}/role")
async def set_role(
    request: Request,
    session: WriteSession,
    user_id: PathId,
    role: Field = "",
    csrf_token: Csrf = "",
) -> Response:
    return await _update(request, session, user_id, csrf_token, {"role": role})


@router.post("/users/{user_id}/email")
async def set_email(
    request: Request,
    session: WriteSession,
    user_id: PathId,
    email: Field = "",
    csrf_token: Csrf = "",
) -> Response:
    fields = {"email": email}

    async def save(ctx: Ctx, _: User) -> User:
        return await users.update(ctx, user_id, UserUpdate.model_validate(fields))

    async def again(ctx: Ctx, user: User, status: int, refused: dict[str, str]) -> Response:
        return _user_page(request, ctx, user, status, errors=refused, sent=fields)

    return await change_one(
        request,
        session,
        WRITE,
        csrf_token,
        lambda ctx: users.get(ctx, user_id),
        fields,
        save,
        again,
        f"/users/{user_id}",
        conflict_field="email",
    )


@router.post("/users/{user_id}/deactivate")
async def deactivate_user(
    request: Request, session: WriteSession, user_id: PathId, csrf_token: Csrf = ""
) -> Response:
    """Sign-in, tokens and API keys stop working at once."""
    return await _update(request, session, user_id, csrf_token, {"is_active": False})


@router.post("/users/{user_id}/activate")
async def activate_user(
    request: Request, session: WriteSession, user_id: PathId, csrf_token: Csrf = ""
) -> Response:
    return await _update(request, session, user_id, csrf_token, {"is_active": True})


@router.post("/users/{user_id}/unlock")
async def unlock_user(
    request: Request, session: WriteSession, user_id: PathId, csrf_token: Csrf = ""
) -> Response:
    """Failed sign-ins before now no longer count against the account."""
    return await act(
        request,
        session,
        WRITE,
        csrf_token,
        lambda ctx: users.unlock(ctx, user_id),
        f"/users/{user_id}",
    )


@router.post("/users/{user_id}/password")
async def reset_password(
    request: Request,
    session: WriteSession,
    user_id: PathId,
    new_password: Password = "",
    csrf_token: Csrf = "",
) -> Response:
    """The password the admin typed, or else a generated one shown once; every session
    and token of the user ends."""
    generated = "" if new_password else passwords.generate()

    found = await form_of_one(
        request, session, WRITE, csrf_token, lambda ctx: users.get(ctx, user_id)
    )
    if isinstance(found, Response):
        return found
    ctx, user = found

    async def save() -> None:
        await users.reset_password(ctx, user_id, new_password or generated)

    async def again(status: int, refused: dict[str, str]) -> Response:
        return _user_page(request, ctx, user, status, errors=refused)

    refused = await from_form(save, {}, again)
    if isinstance(refused, Response):
        return refused
    if generated:
        return _user_page(request, ctx, user, 200, generated)
    return RedirectResponse(f"/users/{user_id}", status_code=303)
