"""audit_logs is append-only, enforced by each database's triggers."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.models import AuditLog
from opsledger.ops import partitions
from tests import factories as f


async def refused(session: AsyncSession, statement: object) -> str:
    with pytest.raises(DBAPIError) as caught:
        async with session.begin_nested():
            await session.execute(statement)  # type: ignore[call-overload]
    return str(caught.value.orig)


async def test_updating_an_audit_row_is_refused(session: AsyncSession) -> None:
    row = await f.make_audit_row(session, action="login")
    message = await refused(
        session, update(AuditLog).where(AuditLog.id == row.id).values(action="nothing")
    )
    assert "append-only" in message
    assert await session.scalar(select(AuditLog.action).where(AuditLog.id == row.id)) == "login"


async def test_changing_the_key_an_audit_row_names_is_refused(session: AsyncSession) -> None:
    row = await f.make_audit_row(session, key_id="0123456789abcdef")
    message = await refused(
        session, update(AuditLog).where(AuditLog.id == row.id).values(key_id=None)
    )
    assert "append-only" in message


async def test_deleting_an_audit_row_is_refused(session: AsyncSession) -> None:
    row = await f.make_audit_row(session)
    assert "append-only" in await refused(session, delete(AuditLog).where(AuditLog.id == row.id))
    assert await session.scalar(select(AuditLog.id).where(AuditLog.id == row.id)) == row.id


async def test_pointing_an_audit_row_at_another_user_is_refused(session: AsyncSession) -> None:
    author, other = await f.make_user(session), await f.make_user(session)
    row = await f.make_audit_row(session, user_id=author.id, user_name=author.username)
    message = await refused(
        session, update(AuditLog).where(AuditLog.id == row.id).values(user_id=other.id)
    )
    assert "append-only" in message


@pytest.mark.backends("postgresql")
async def test_truncating_audit_logs_is_refused_on_postgresql(session: AsyncSession) -> None:
    await f.make_audit_row(session)
    assert "append-only" in await refused(session, text("TRUNCATE audit_logs"))


@pytest.mark.backends("postgresql")
async def test_each_partition_of_audit_logs_keeps_the_guards(session: AsyncSession) -> None:
    row = await f.make_audit_row(session)
    month = partitions.AUDIT_LOGS.name_of(partitions.month_start(row.timestamp))
    for name in (month, partitions.AUDIT_LOGS.default):
        assert "append-only" in await refused(session, text(f"TRUNCATE {name}"))
    updated = text(f"UPDATE {month} SET action = 'forged' WHERE id = :id").bindparams(id=row.id)
    assert "append-only" in await refused(session, updated)
    deleted = text(f"DELETE FROM {month} WHERE id = :id").bindparams(id=row.id)
    assert "append-only" in await refused(session, deleted)
