"""Queries every repository needs in the same form."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.kit.filtering import where_equal
from opsledger.kit.pagination import keyset

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
