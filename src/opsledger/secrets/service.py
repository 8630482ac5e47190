"""Rules for secrets: owners (and admins) manage them; the value leaves only via reveal,
and every reveal is audited."""

from __future__ import annotations

from opsledger.audit import changes
from opsledger.audit import service as audit
from opsledger.kit.errors import Conflict, found
from opsledger.kit.pagination import Rows
from opsledger.secrets import repository
from opsledger.secrets.models import Secret
from opsledger.secrets.schemas import SecretCreate
from opsledger.security.context import Ctx

RESOURCE = "secret"


async def get(ctx: Ctx, secret_id: int) -> Secret:
    return found(
        await repository.get(ctx.session, secret_id, ctx.visible_owner),
        f"secret {secret_id} does not exist",
    )


async def page(ctx: Ctx, limit: int, after: int | None) -> Rows[Secret]:
    return await repository.page(ctx.session, ctx.visible_owner, limit, after)


async def create(ctx: Ctx, body: SecretCreate) -> Secret:
    if await repository.taken(ctx.session, ctx.user_id, body.service_name, body.key_name):
        raise Conflict(f"you already have a secret {body.service_name}/{body.key_name}")
    secret = Secret(
        user_id=ctx.user_id,
        service_name=body.service_name,
        key_name=body.key_name,
        value=body.value.get_secret_value(),
    )
    await repository.add(ctx.session, secret)
    await audit.created(ctx, RESOURCE, secret)
    return secret


async def replace_value(ctx: Ctx, secret_id: int, value: str) -> Secret:
    secret = await get(ctx, secret_id)
    return await changes.update(ctx, RESOURCE, secret, {"value": value})


async def delete(ctx: Ctx, secret_id: int) -> None:
    secret = await get(ctx, secret_id)
    await changes.remove(ctx, RESOURCE, secret)


async def reveal(ctx: Ctx, secret_id: int) -> str:
    secret = await get(ctx, secret_id)
    audit.record(ctx, "reveal", RESOURCE, secret.id)
    return await repository.value(ctx.session, secret.id)
