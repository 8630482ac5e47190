"""Rules for infrastructure: unique names; provider secrets kept as one encrypted JSON
document; one in use by a deployment stays."""

from __future__ import annotations

import json
from typing import Any

from opsledger.audit import changes
from opsledger.infrastructure import repository
from opsledger.infrastructure.models import Infrastructure
from opsledger.infrastructure.schemas import InfrastructureCreate, InfrastructureUpdate
from opsledger.kit.errors import Conflict, found
from opsledger.kit.pagination import Rows
from opsledger.security.context import Ctx

RESOURCE = "infrastructure"


def _sealed(fields: dict[str, Any]) -> dict[str, Any]:
    """Move ``secrets`` into ``secret_config`` as JSON (encrypted by the column type)."""
    if "secrets" not in fields:
        return fields
    secrets = fields.pop("secrets")
    plain = None if secrets is None else {k: v.get_secret_value() for k, v in secrets.items()}
    return fields | {"secret_config": None if plain is None else json.dumps(plain, sort_keys=True)}


async def get(ctx: Ctx, infrastructure_id: int) -> Infrastructure:
    return found(
        await repository.get(ctx.session, infrastructure_id),
        f"infrastructure {infrastructure_id} does not exist",
    )


async def page(
    ctx: Ctx, filters: dict[str, Any], limit: int, after: int | None
) -> Rows[Infrastructure]:
    return await repository.page(ctx.session, filters, limit, after)


async def _name_free(ctx: Ctx, name: str | None, infrastructure_id: int | None = None) -> None:
    if name is not None and await repository.name_taken(ctx.session, name, infrastructure_id):
        raise Conflict(f"infrastructure named {name!r} already exists")


async def create(ctx: Ctx, body: InfrastructureCreate) -> Infrastructure:
    await _name_free(ctx, body.name)
    infrastructure = Infrastructure(**_sealed(dict(body)))
    await changes.create(ctx, RESOURCE, infrastructure)
    return await repository.reload(ctx.session, infrastructure)


async def update(ctx: Ctx, infrastructure_id: int, body: InfrastructureUpdate) -> Infrastructure:
    infrastructure = await get(ctx, infrastructure_id)
    fields = body.changes()
    await _name_free(ctx, fields.get("name"), infrastructure.id)
    await changes.update(ctx, RESOURCE, infrastructure, _sealed(fields))
    return await repository.reload(ctx.session, infrastructure)


async def delete(ctx: Ctx, infrastructure_id: int) -> None:
    infrastructure = await get(ctx, infrastructure_id)
    if await repository.in_use(ctx.session, infrastructure.id):
        raise Conflict(f"infrastructure {infrastructure_id} is used by deployments")
    await changes.remove(ctx, RESOURCE, infrastructure)
