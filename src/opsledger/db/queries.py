"""Queries every repository needs in the same form."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.kit.filtering import where_equal
from opsledger.kit.pagination import keyset
from opsledger.kit.schemas import MAX_ID

M = TypeVar("M")


async def value_taken(
    session: AsyncSession, column: Any, value: object, other_than: int | None = None
) -> bool:
    """Whether a row other than ``other_than`` already has ``value`` in ``column``."""
    clash = column == value
    if other_than is not None:
        clash = clash & (column.class_.id != other_than)
    return bool(await session.scalar(select(exists().where(clash))))


async def page(
    session: AsyncSession,
    model: type[M],
    filters: dict[str, Any],
    limit: int,
    after: int | None,
    statement: Select[Any] | None = None,
) -> list[M]:
    """A keyset page of ``model`` rows matching ``filters`` (column == value each);
    ``statement`` may bring its own conditions and loader options."""
    base = statement if statement is not None else select(model)
    filtered = where_equal(base, model, filters)
    return list(await session.scalars(keyset(filtered, model.id, limit, after)))  # type: ignore[attr-defined]


async def by_name_or_id(session: AsyncSession, model: type[M], column: Any, ref: str) -> M | None:
    """The row whose ``column`` equals ``ref``, or, for an all-digit ``ref`` that names
    nothing, the row with that id (how the CLI lets people name things)."""
    named = await session.scalar(select(model).where(column == ref))
    if named is None and ref.isdigit() and int(ref) <= MAX_ID:
        return await session.get(model, int(ref))
    return named
