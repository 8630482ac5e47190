"""The only SQL for the audit trail."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from opsledger.audit.models import AuditChain, AuditLog, AuditPurgeGuard
from opsledger.db import queries
from opsledger.db.engine import outside_transactions
from opsledger.kit.pagination import Rows

CHAIN_ID = 1


def lock_chain(session: Session) -> AuditChain:
    """The chain head, locked until the transaction ends (FOR UPDATE on PostgreSQL and
    MySQL; SQLite's writer already holds the database write lock). A connection without
    a transaction (a read session, ``db.engine.reader``) would let the lock go at once and
    two writers chain onto the same head: it is refused."""
    if outside_transactions(session.connection()):
        raise RuntimeError("audit rows are written in a transaction: use a write session")
    statement = (
        select(AuditChain)
        .where(AuditChain.id == CHAIN_ID)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.scalars(statement).one()


async def chain(session: AsyncSession) -> AuditChain:
    statement = select(AuditChain).where(AuditChain.id == CHAIN_ID)
    return (await session.scalars(statement.execution_options(populate_existing=True))).one()


def append(session: Session, rows: list[AuditLog], sealing: Callable[[int], str]) -> None:
    """Add the rows, in order, and make the last the chain's head, sealed by
    ``sealing(its id)``. Called as the transaction commits (a sync session)."""
    session.add_all(rows)
    session.flush()
    head_id, head_hash = rows[-1].id, rows[-1].hash
    session.execute(
        update(AuditChain)
        .where(AuditChain.id == CHAIN_ID)
        .values(head_id=head_id, head_hash=head_hash, state_seal=sealing(head_id))
        .execution_options(synchronize_session=False)
    )


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
) -> Rows[AuditLog]:
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
    return await queries.keyset_page(
        session, statement, AuditLog.id, limit, before_id, newest_first=True
    )


async def count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(AuditLog)) or 0)


async def in_order(session: AsyncSession, batch: int = 1000) -> AsyncIterator[AuditLog]:
    """Every row, oldest first, read in keyset batches."""
    after = None
    while True:
        page = await queries.keyset_page(session, select(AuditLog), AuditLog.id, batch, after)
        rows = page.items
        for row in rows:
            yield row
        if page.next_cursor is None:
            return
        after = page.next_cursor
        session.expunge_all()


async def first_kept(session: AsyncSession, cutoff: datetime) -> int | None:
    """The oldest row retention keeps: the first not older than ``cutoff``."""
    return await session.scalar(select(func.min(AuditLog.id)).where(AuditLog.timestamp >= cutoff))


async def _before_first_kept(session: AsyncSession, cutoff: datetime) -> Any:
    """The rows older than ``cutoff`` from the start of the chain: rows after the first
    one kept are never taken, so what remains is one unbroken stretch of the chain."""
    boundary = await first_kept(session, cutoff)
    return true() if boundary is None else AuditLog.id < boundary


async def expired_prefix(session: AsyncSession, cutoff: datetime, limit: int) -> list[int]:
    """Ids of up to ``limit`` of the oldest rows retention may remove."""
    condition = await _before_first_kept(session, cutoff)
    statement = select(AuditLog.id).where(condition).order_by(AuditLog.id).limit(limit)
    return list((await session.scalars(statement)).all())


async def count_expired(session: AsyncSession, cutoff: datetime) -> int:
    condition = await _before_first_kept(session, cutoff)
    return int(await session.scalar(select(func.count(AuditLog.id)).where(condition)) or 0)


async def purge(session: AsyncSession, ids: list[int], at: datetime) -> int:
    """Delete ``ids`` with the purge guard held, in the caller's transaction."""
    session.add(AuditPurgeGuard(id=CHAIN_ID, started_at=at))
    await session.flush()
    result = await session.execute(
        delete(AuditLog).where(AuditLog.id.in_(ids)).execution_options(synchronize_session=False)
    )
    await session.execute(delete(AuditPurgeGuard))
    return int(result.rowcount)  # type: ignore[attr-defined]


async def oldest_prev_hash(session: AsyncSession) -> tuple[bool, str | None]:
    """(whether any row remains, the oldest remaining row's prev_hash)."""
    row = (await session.execute(select(AuditLog.prev_hash).order_by(AuditLog.id).limit(1))).first()
    return (row is not None, row[0] if row is not None else None)
