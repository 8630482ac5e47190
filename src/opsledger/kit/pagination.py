"""Keyset pagination: ``?limit=`` (default 50, at most 500) and an ``?after=`` cursor;
the query models live in ``kit.filtering``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel
from sqlalchemy import Select

T = TypeVar("T")


class Identified(Protocol):
    @property
    def id(self) -> int: ...


R = TypeVar("R", bound=Identified)

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: int | None = None


def keyset(
    statement: Select[Any], key: Any, limit: int, after: int | None, *, newest_first: bool = False
) -> Select[Any]:
    """Order by ``key`` and continue after the cursor: an index seek at any depth, where
    OFFSET would read and discard every earlier row."""
    if newest_first:
        statement = statement.order_by(key.desc())
        return (
            statement.limit(limit) if after is None else statement.where(key < after).limit(limit)
        )
    statement = statement.order_by(key)
    return statement.limit(limit) if after is None else statement.where(key > after).limit(limit)


def page_of(rows: Sequence[R], limit: int, read: Callable[[R], T]) -> Page[T]:
    """A page from ``limit + 1`` fetched rows: the extra row only says there is more, and
    the cursor is the id of the last row shown (every list is keyset-paged by id)."""
    items = list(rows[:limit])
    more = len(rows) > limit
    cursor = items[-1].id if more else None
    return Page[T](items=[read(row) for row in items], next_cursor=cursor)
