"""Rules for host credentials: admins add and rotate them; values stay encrypted and are
decrypted only for the run that needs them."""

from __future__ import annotations

from typing import Any

from opsledger.audit import changes
from opsledger.audit import service as audit
from opsledger.credentials import repository
from opsledger.credentials.models import Credential, CredentialType
from opsledger.credentials.schemas import CredentialCreate
from opsledger.db.base import utcnow
from opsledger.hosts import service as hosts
from opsledger.kit.errors import Conflict, found
from opsledger.kit.pagination import Rows
from opsledger.security.context import Ctx

RESOURCE = "credential"


async def get(ctx: Ctx, host_id: int, credential_id: int) -> Credential:
    return found(
        await repository.get(ctx.session, host_id, credential_id),
        f"host {host_id} has no credential {credential_id}",
    )


async def page(
    ctx: Ctx, host_id: int, filters: dict[str, Any], limit: int, after: int | None
) -> Rows[Credential]:
    await hosts.get(ctx, host_id)
    return await repository.page(ctx.session, host_id, filters, limit, after)


async def add(ctx: Ctx, host_id: int, body: CredentialCreate) -> Credential:
    await hosts.get(ctx, host_id)
    credential = Credential(
        host_id=host_id,
        type=body.type,
        username=body.username,
        value=body.value.get_secret_value(),
    )
    return await changes.create(ctx, RESOURCE, credential)


async def rotate(ctx: Ctx, host_id: int, credential_id: int, value: str) -> Credential:
    """Replace a credential with a new one of the same kind; the old one is deactivated
    and stamped ``rotated_at``, and stays on record."""
    old = await get(ctx, host_id, credential_id)
    if not old.is_active:
        raise Conflict(f"credential {credential_id} is already inactive")
    await changes.update(ctx, RESOURCE, old, {"is_active": False, "rotated_at": utcnow()})
    new = Credential(host_id=host_id, type=old.type, username=old.username, value=value)
    return await changes.create(ctx, RESOURCE, new)


async def deactivate_type(ctx: Ctx, host_id: int, kind: CredentialType) -> int:
    await hosts.get(ctx, host_id)
    count = await repository.deactivate_type(ctx.session, host_id, kind)
    audit.record(
        ctx, "deactivate", RESOURCE, None, after={"host_id": host_id, "type": kind, "count": count}
    )
    return count
