"""Keyset pagination: ``?limit=`` (default 50, at most 500) and an ``?after=`` cursor;
the query models live in ``kit.filtering``, the one query that pages in ``db.queries``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel

T = TypeVar("T")


R = TypeVar("R")

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: int | None = None


@dataclass(frozen=True)
class Rows(Generic[R]):
    """One keyset page of rows, as a repository answers a list: the rows shown and the
    cursor of the next page (None on the last)."""

    items: list[R]
    next_cursor: int | None

    @classmethod
    def cut(cls, fetched: list[R], limit: int, key: Callable[[R], int]) -> Rows[R]:
        """The page of ``limit`` rows out of ``fetched`` (one more when another page
        follows), its cursor the last row's ``key``."""
        items = fetched[:limit]
        return cls(items, key(items[-1]) if len(fetched) > limit else None)

    def answer(self, schema: type[T]) -> Page[T]:
        """The page as the API answers it, its rows (dicts of columns) validated into
        ``schema`` in one call."""
        return Page[schema].model_validate(  # type: ignore[valid-type]
            {"items": self.items, "next_cursor": self.next_cursor}
        )

    def read(self, read: Callable[[R], T]) -> Page[T]:
        """The page as the API answers it, each row read into its wire schema."""
        return Page[T](items=[read(row) for row in self.items], next_cursor=self.next_cursor)
