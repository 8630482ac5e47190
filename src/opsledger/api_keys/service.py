"""Rules for API keys: a user manages their own; an admin sees and revokes all."""

from __future__ import annotations

from datetime import datetime

from opsledger.api_keys import repository
from opsledger.api_keys.models import ApiKey
from opsledger.api_keys.schemas import ApiKeyCreate
from opsledger.audit import changes
from opsledger.audit import service as audit
from opsledger.db.base import utcnow
from opsledger.kit.errors import Conflict, Forbidden, ValidationFailed, found
from opsledger.kit.pagination import Rows
from opsledger.security import api_keys
from opsledger.security.context import Ctx
from opsledger.security.policy import POLICY

RESOURCE = "api_key"


async def create(ctx: Ctx, body: ApiKeyCreate) -> tuple[ApiKey, str]:
    """The new row and the key itself, which is never stored and never shown again."""
    if body.expires_at is not None and body.expires_at <= utcnow():
        raise ValidationFailed("expires_at must be in the future")
    role = POLICY[ctx.user.role]
    if body.scopes is not None:
        beyond = sorted(set(body.scopes) - role)
        if beyond or not body.scopes:
            raise ValidationFailed(
                f"scopes must be a non-empty subset of your role's actions; not allowed: {beyond}"
            )
    _within_own_scopes(ctx, body.scopes, "create")
    await _not_outliving(ctx, body.expires_at)
    material = api_keys.generate()
    key = ApiKey(
        user_id=ctx.user_id,
        name=body.name,
        prefix=material.prefix,
        key_hash=material.key_hash,
        scopes=sorted(set(body.scopes)) if body.scopes else None,
        expires_at=body.expires_at,
    )
    await repository.add(ctx.session, key)
    await audit.created(ctx, RESOURCE, key)
    return key, material.key


def _within_own_scopes(ctx: Ctx, scopes: list[str] | None, verb: str) -> None:
    """A scoped key acts only on keys no wider than itself (an unscoped key holds its
    owner's whole role): it can neither mint a wider one nor revoke one."""
    if ctx.user.scopes is None:
        return
    wanted = POLICY[ctx.user.role] if scopes is None else frozenset(scopes)
    beyond = sorted(wanted - ctx.user.scopes)
    if beyond:
        raise Forbidden(
            f"an API key may only {verb} keys within its own scopes; "
            f"not among them: {', '.join(beyond)}"
        )


async def _not_outliving(ctx: Ctx, expires_at: datetime | None) -> None:
    """A key never mints a key that outlives it: a leaked short-lived key would otherwise
    make itself a permanent one."""
    if ctx.user.api_key_id is None:
        return
    parent = await repository.get(ctx.session, ctx.user.api_key_id, None)
    deadline = parent.expires_at if parent is not None else None
    if deadline is not None and (expires_at is None or expires_at > deadline):
        raise Forbidden(
            f"an API key may only create keys that expire with it, by {deadline.isoformat()}"
        )


async def get(ctx: Ctx, key_id: int) -> ApiKey:
    return found(
        await repository.get(ctx.session, key_id, ctx.visible_owner),
        f"API key {key_id} does not exist",
    )


async def page(ctx: Ctx, limit: int, after: int | None) -> Rows[ApiKey]:
    return await repository.page(ctx.session, ctx.visible_owner, limit, after)


async def revoke(ctx: Ctx, key_id: int) -> ApiKey:
    key = await get(ctx, key_id)
    _within_own_scopes(ctx, key.scopes, "revoke")
    if key.revoked_at is not None:
        raise Conflict(f"API key {key_id} is already revoked")
    return await changes.update(ctx, RESOURCE, key, {"revoked_at": utcnow()}, action="revoke")
