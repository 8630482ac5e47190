"""The only SQL for credentials. Listings never load the encrypted value."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from opsledger.credentials.models import Credential, CredentialType
from opsledger.db import queries
from opsledger.db.base import utcnow
from opsledger.kit.pagination import Rows

_WITHOUT_VALUE = defer(Credential.value, raiseload=True)


async def get(session: AsyncSession, host_id: int, credential_id: int) -> Credential | None:
    statement = (
        select(Credential)
        .options(_WITHOUT_VALUE)
        .where(Credential.id == credential_id, Credential.host_id == host_id)
    )
    return await session.scalar(statement)


async def page(
    session: AsyncSession, host_id: int, filters: dict[str, Any], limit: int, after: int | None
) -> Rows[Credential]:
    statement = select(Credential).options(_WITHOUT_VALUE).where(Credential.host_id == host_id)
    return await queries.page(session, Credential, filters, limit, after, statement)


async def deactivate_type(session: AsyncSession, host_id: int, kind: CredentialType) -> int:
    result = await session.execute(
        update(Credential)
        .where(
            Credential.host_id == host_id, Credential.type == kind, Credential.is_active.is_(True)
        )
        .values(is_active=False, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def active_of_type(
    session: AsyncSession, host_ids: list[int], kind: CredentialType
) -> dict[int, Credential]:
    """Per host, the newest active credential of one kind, value decrypted (for runs)."""
    statement = (
        select(Credential)
        .where(
            Credential.host_id.in_(host_ids),
            Credential.type == kind,
            Credential.is_active.is_(True),
        )
        .order_by(Credential.id)
    )
    return {credential.host_id: credential for credential in await session.scalars(statement)}
