"""The only SQL for the audit trail."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.audit.models import AuditChain, AuditLog
from opsledger.kit.pagination import keyset

CHAIN_ID = 1


async def lock_chain(session: AsyncSession) -> AuditChain:
    """The chain head, locked until the transaction ends (FOR UPDATE on PostgreSQL and
    MySQL; SQLite's writer already holds the database write lock)."""
    statement = (
        select(AuditChain)
        .where(AuditChain.id == CHAIN_ID)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.scalars(statement)).one()


async def chain(session: AsyncSession) -> AuditChain:
    statement = select(AuditChain).where(AuditChain.id == CHAIN_ID)
    return (await session.scalars(statement.execution_options(populate_existing=True))).one()


async def append(session: AsyncSession, row: AuditLog) -> AuditLog:
    session.add(row)
    await session.flush()
    await session.execute(
        update(AuditChain)
        .where(AuditChain.id == CHAIN_ID)
        .values(head_id=row.id, head_hash=row.hash)
        .execution_options(synchronize_session=False)
    )
    return row


async def page(
    session: AsyncSession,
    *,
    limit: int,
    before_id: int | None = None,
    resource_type: str | None = None,
    resource_id: int | None = None,
    user_id: int | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[AuditLog]:
    """Newest first; ``before_id`` continues from the previous page's last row."""
    statement = select(AuditLog)
    conditions = {
        AuditLog.resource_type: resource_type,
        AuditLog.resource_id: resource_id,
        AuditLog.user_id: user_id,
        AuditLog.action: action,
    }
    for column, value in conditions.items():
        if value is not None:
            statement = statement.where(column == value)
    if since is not None:
        statement = statement.where(AuditLog.timestamp >= since)
    if until is not None:
        statement = statement.where(AuditLog.timestamp < until)
    paged = keyset(statement, AuditLog.id, limit, before_id, newest_first=True)
    return list(await session.scalars(paged))


async def count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(AuditLog)) or 0)


async def in_order(session: AsyncSession, batch: int = 1000) -> AsyncIterator[AuditLog]:
    """Every row, oldest first, read in keyset batches."""
    after = None
    while True:
        rows = list(await session.scalars(keyset(select(AuditLog), AuditLog.id, batch, after)))
        for row in rows:
            yield row
        if len(rows) < batch:
            return
        after = rows[-1].id
        session.expunge_all()
