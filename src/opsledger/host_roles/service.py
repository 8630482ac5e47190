"""Rules for host roles: unique names, and a default playbook that exists."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.audit import changes
from opsledger.host_roles import repository
from opsledger.host_roles.models import HostRole
from opsledger.host_roles.schemas import HostRoleCreate, HostRoleUpdate
from opsledger.kit.errors import Conflict, ValidationFailed, found
from opsledger.kit.pagination import Rows
from opsledger.playbooks import repository as playbooks
from opsledger.security.context import Ctx

RESOURCE = "host_role"

# The roles every installation starts with (`opsledger seed` adds the missing ones).
DEFAULT_ROLES = {
    "frontend": "Web front end: reverse proxy and static assets",
    "redis": "Redis cache and queue",
    "npu-worker": "Inference worker with an NPU accelerator",
    "ai-stack": "AI services stack: model serving and vector store",
    "browser": "Headless browser automation host",
}


async def seed_defaults(session: AsyncSession) -> list[str]:
    """Create whichever default roles are missing; returns the names created."""
    missing = [name for name in DEFAULT_ROLES if name not in await repository.names(session)]
    await repository.add_all(
        session, [HostRole(name=name, description=DEFAULT_ROLES[name]) for name in missing]
    )
    return missing


async def get(ctx: Ctx, role_id: int) -> HostRole:
    return found(await repository.get(ctx.session, role_id), f"host role {role_id} does not exist")


async def page(ctx: Ctx, filters: dict[str, Any], limit: int, after: int | None) -> Rows[HostRole]:
    return await repository.page(ctx.session, filters, limit, after)


async def _check(ctx: Ctx, fields: dict[str, Any], role_id: int | None = None) -> None:
    if "name" in fields and await repository.name_taken(ctx.session, fields["name"], role_id):
        raise Conflict(f"a host role named {fields['name']!r} already exists")
    playbook_id = fields.get("default_playbook_id")
    if playbook_id is not None and await playbooks.get(ctx.session, playbook_id) is None:
        raise ValidationFailed(f"playbook {playbook_id} does not exist")


async def create(ctx: Ctx, body: HostRoleCreate) -> HostRole:
    fields = body.model_dump()
    await _check(ctx, fields)
    return await changes.create(ctx, RESOURCE, HostRole(**fields))


async def update(ctx: Ctx, role_id: int, body: HostRoleUpdate) -> HostRole:
    role = await get(ctx, role_id)
    fields = body.changes()
    await _check(ctx, fields, role.id)
    return await changes.update(ctx, RESOURCE, role, fields)
