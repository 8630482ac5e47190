"""SQL that spans every table: reading and rewriting encrypted columns as raw tokens."""

from __future__ import annotations

from sqlalchemy import Column, Table, and_, bindparam, func, select, type_coerce, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import Text

from opsledger.db.types import EncryptedString
from opsledger.models import metadata


def encrypted_columns() -> list[tuple[Table, Column[str]]]:
    return [
        (table, column)
        for table in metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, EncryptedString)
    ]


async def count_values(session: AsyncSession, table: Table, column: Column[str]) -> int:
    statement = select(func.count()).select_from(table).where(column.is_not(None))
    return int(await session.scalar(statement) or 0)


async def tokens_after(
    session: AsyncSession, table: Table, column: Column[str], after: int, limit: int
) -> list[tuple[int, str]]:
    """Raw Fernet tokens (not decrypted) of the next ``limit`` rows by id."""
    raw = type_coerce(column, Text)
    statement = (
        select(table.c.id, raw)
        .where(table.c.id > after, column.is_not(None))
        .order_by(table.c.id)
        .limit(limit)
    )
    return [(row_id, token) for row_id, token in (await session.execute(statement)).all()]


async def replace_tokens(
    session: AsyncSession, table: Table, column: Column[str], changes: list[tuple[int, str, str]]
) -> None:
    """Compare-and-set each ``(id, old, new)``: a value changed meanwhile is left alone."""
    statement = (
        update(table)
        .where(
            and_(table.c.id == bindparam("row_id"), type_coerce(column, Text) == bindparam("old"))
        )
        .values({column.name: bindparam("new", type_=Text)})
    )
    await session.execute(
        statement, [{"row_id": i, "old": old, "new": new} for i, old, new in changes]
    )
