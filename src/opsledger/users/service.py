"""Rules for users: creation, roles, deactivation, passwords and login."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import timedelta

from opsledger.audit import changes
from opsledger.audit import service as audit
from opsledger.db.base import utcnow
from opsledger.kit.errors import Conflict, RateLimited, ValidationFailed, found
from opsledger.kit.metrics import FAILED_LOGINS
from opsledger.kit.pagination import Rows
from opsledger.security import passwords, tokens
from opsledger.security.context import Ctx
from opsledger.security.throttle import LoginThrottle
from opsledger.users import repository
from opsledger.users.models import User, UserRole
from opsledger.users.schemas import (
    USERNAME,
    LoginRequest,
    UserCreate,
    UserRead,
    UserUpdate,
    canonical,
)

RESOURCE = "user"
FIRST_ADMIN = "admin"


async def _hash(ctx: Ctx, password: str, field: str) -> str:
    """The password's hash, once the policy takes it; refused (422) naming ``field``, the
    request's field that carries it."""
    try:
        passwords.check_policy(password, ctx.settings.password_min_length)
    except passwords.PasswordRejected as exc:
        raise ValidationFailed.at(field, str(exc)) from None
    return await passwords.hash_password(password, ctx.settings.bcrypt_rounds)


def _missing(user_id: int) -> str:
    return f"user {user_id} does not exist"


async def get(ctx: Ctx, user_id: int) -> User:
    return found(await repository.get(ctx.session, user_id), _missing(user_id))


async def read(ctx: Ctx, user_id: int) -> UserRead:
    """The user as the API answers it, read without loading it (a read session's)."""
    row = await repository.row(ctx.session, user_id, UserRead.model_fields)
    return UserRead.model_validate(found(row, _missing(user_id)))


async def page(ctx: Ctx, limit: int, after: int | None) -> Rows[User]:
    return await repository.page(ctx.session, limit, after)


async def create(ctx: Ctx, body: UserCreate) -> User:
    if await repository.taken(ctx.session, body.username, body.email):
        raise Conflict(f"a user named {body.username!r} or with that email already exists")
    user = User(
        username=body.username,
        email=body.email,
        role=body.role,
        password_hash=await _hash(ctx, body.password.get_secret_value(), "password"),
    )
    await repository.add(ctx.session, user)
    await audit.created(ctx, RESOURCE, user)
    return user


async def update(ctx: Ctx, user_id: int, body: UserUpdate) -> User:
    user = await get(ctx, user_id)
    fields = body.model_dump(exclude_unset=True, exclude_none=True)
    if "email" in fields and await repository.email_taken(ctx.session, fields["email"], user.id):
        raise Conflict("another user has that email")
    losing_admin = (
        user.role is UserRole.admin
        and user.is_active
        and (
            fields.get("role", UserRole.admin) is not UserRole.admin
            or fields.get("is_active", True) is False
        )
    )
    if losing_admin and len(await repository.lock_active_admins(ctx.session)) <= 1:
        raise Conflict("this is the last active admin: promote another user first")
    if fields.get("is_active") is False:
        fields["token_version"] = repository.token_version_bumped()  # every token dies
    return await changes.update(ctx, RESOURCE, user, fields)


async def set_password(ctx: Ctx, user: User, password: str, action: str) -> None:
    """Replace the password and end every session and token issued before."""
    user.password_hash = await _hash(ctx, password, "new_password")
    await ctx.session.flush()
    await repository.bump_token_version(ctx.session, user)
    audit.record(ctx, action, RESOURCE, user.id)


class WrongPassword(ValidationFailed):
    """The password typed again is not the user's. Its audit row is in the request's
    session: an answer refusing with it keeps the request's changes (that row) instead of
    rolling them back."""


async def confirm_password(ctx: Ctx, throttle: LoginThrottle, current: str) -> User:
    """The signed-in user, once they typed their password again (for a change to it,
    before a secret is shown or a backup made); WrongPassword (audited) when it is not
    theirs.
    Wrong ones are limited per user as failed sign-ins are (RateLimited past the limit,
    until the window passes or an admin unlocks), on a count of their own: a stolen
    session cannot guess the password here faster than at the sign-in form, and failed
    sign-ins in the user's name do not keep the user from these forms."""
    user = await get(ctx, ctx.user_id)
    key = str(user.id)
    wait = throttle.confirmations.retry_after(key, user.login_unlocked_at)
    if wait:
        raise RateLimited("too many wrong passwords: try again later", retry_after=wait)
    throttle.confirmations.fail(key)  # counted before bcrypt, as a sign-in is
    if not await passwords.verify_password(current, user.password_hash, ctx.settings.bcrypt_rounds):
        FAILED_LOGINS.inc()
        audit.record(ctx, "password_confirm_failed", RESOURCE, user.id)
        raise WrongPassword("the current password is not correct")
    throttle.confirmations.clear(key)
    return user


async def change_own_password(ctx: Ctx, throttle: LoginThrottle, current: str, new: str) -> None:
    user = await confirm_password(ctx, throttle, current)
    await set_password(ctx, user, new, "password_change")


async def reset_password(ctx: Ctx, user_id: int, new: str) -> None:
    await set_password(ctx, await get(ctx, user_id), new, "password_reset")


async def unlock(ctx: Ctx, user_id: int) -> User:
    """Clear the user's failed-login limit in every server process: failures before now
    no longer count (the per-address limit stays)."""
    user = await get(ctx, user_id)
    return await changes.update(
        ctx, RESOURCE, user, {"login_unlocked_at": utcnow()}, action="unlock"
    )


async def logout(ctx: Ctx) -> None:
    """Sign out the token this request came with: it stops working at once, everywhere;
    the user's other tokens and sessions stay (logout-all ends those)."""
    claims = ctx.user.token
    if claims is None:
        raise ValidationFailed(
            "only a token signs out; revoke an API key with DELETE /api/v1/api-keys/{id}"
        )
    await repository.revoke_token(ctx.session, claims)
    audit.record(ctx, "logout", RESOURCE, ctx.user_id)


async def logout_all(ctx: Ctx) -> None:
    user = await get(ctx, ctx.user_id)
    await repository.bump_token_version(ctx.session, user)
    audit.record(ctx, "logout_all", RESOURCE, user.id)


@dataclass(frozen=True)
class Token:
    access_token: str
    expires_in: int


async def login(ctx: Ctx, throttle: LoginThrottle, body: LoginRequest) -> Token | None:
    """A token, or None for a failed attempt. Unknown user, wrong password and inactive
    user cost the same bcrypt work and look the same from outside; all are audited."""
    address = ctx.request.ip_address or "unknown"
    name = canonical(body.username)
    # No stored name has spaces or non-ASCII: such a name is nobody on any backend.
    known = re.fullmatch(USERNAME, name) is not None
    user = await repository.by_username(ctx.session, name) if known else None
    wait = throttle.retry_after(name, address, user.login_unlocked_at if user else None)
    if wait:
        raise RateLimited("too many failed logins: try again later", retry_after=wait)
    throttle.attempt(name, address)
    password_ok = await passwords.verify_password(
        body.password.get_secret_value(),
        user.password_hash if user else None,
        ctx.settings.bcrypt_rounds,
    )
    if user is None or not password_ok or not user.is_active:
        FAILED_LOGINS.inc()
        audit.record(
            ctx,
            "login_failed",
            RESOURCE,
            user.id if user else None,
            user_name=user.username if user else unknown_name(ctx, name),
            user_id=user.id if user else None,
        )
        return None
    throttle.succeeded(name, address)
    user.last_login = utcnow()
    await ctx.session.flush()
    audit.record(ctx, "login", RESOURCE, user.id, user_name=user.username, user_id=user.id)
    lifetime = timedelta(minutes=ctx.settings.jwt_lifetime_minutes)
    if ctx.settings.jwt_secret is None:
        raise RuntimeError("no token secret configured")
    token = tokens.issue(
        user.id, user.token_version, ctx.settings.jwt_secret.get_secret_value(), lifetime
    )
    return Token(access_token=token, expires_in=int(lifetime.total_seconds()))


def unknown_name(ctx: Ctx, name: str) -> str:
    """How the audit trail records a login attempt for no known user: people type
    passwords into the username field, so not the text itself, but a keyed hash of it
    (the token secret's, which is not in the database): repeated attempts on one name
    still show as one, and nobody reading the trail can test guesses against it."""
    if ctx.settings.jwt_secret is None:
        raise RuntimeError("no token secret configured")
    key = ctx.settings.jwt_secret.get_secret_value().encode()
    digest = hmac.new(key, b"unknown-username\0" + name.encode(), hashlib.sha256)
    return f"unknown:{digest.hexdigest()[:16]}"


async def ensure_first_admin(ctx: Ctx, email: str) -> str | None:
    """Create the first admin when there is none; returns its one-time password."""
    if await repository.any_admin(ctx.session):
        return None
    password = passwords.generate()
    await create(
        ctx,
        UserCreate.model_validate(
            {"username": FIRST_ADMIN, "email": email, "password": password, "role": UserRole.admin}
        ),
    )
    return password


async def all_users(ctx: Ctx) -> list[User]:
    return await repository.all_users(ctx.session)


async def by_username(ctx: Ctx, username: str) -> User:
    return found(
        await repository.by_username(ctx.session, canonical(username)),
        f"user {username!r} does not exist",
    )
