"""Queries every repository needs in the same form: uniqueness, the one paging query,
lookup by name or id, and the catalogue base the named catalogue tables share."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from sqlalchemy import Select, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.kit.filtering import where_equal
from opsledger.kit.pagination import Rows
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


async def keyset_page(
    session: AsyncSession,
    statement: Select[Any],
    key: Any,
    limit: int,
    after: int | None,
    *,
    newest_first: bool = False,
) -> Rows[Any]:
    """The one paging query, its rows loaded (work, console pages)."""
    paged = keyset(statement, key, after, limit + 1, newest_first=newest_first)
    return Rows.cut(list(await session.scalars(paged)), limit, lambda row: row.id)


def keyset(
    statement: Select[Any], key: Any, after: Any, fetch: Any, *, newest_first: bool = False
) -> Select[Any]:
    """The one paging query: order by ``key`` (a row's id), continue after the cursor
    ``after`` (None: from the start), and fetch ``fetch`` rows, one more than the page to
    know whether another follows (``Rows.cut``). An index seek at any depth, where OFFSET
    would read and discard every earlier row. ``after`` and ``fetch`` are values, or
    parameters bound at execution (``db.driver.DriverPages``)."""
    statement = statement.order_by(key.desc() if newest_first else key)
    if after is not None:
        statement = statement.where(key < after if newest_first else key > after)
    return statement.limit(fetch)


async def page(
    session: AsyncSession,
    model: type[M],
    filters: dict[str, Any],
    limit: int,
    after: int | None,
    statement: Select[Any] | None = None,
    *,
    newest_first: bool = False,
) -> Rows[M]:
    """A keyset page of ``model`` rows matching ``filters`` (column == value each);
    ``statement`` may bring its own conditions and loader options."""
    base = statement if statement is not None else select(model)
    filtered = where_equal(base, model, filters)
    key = model.id  # type: ignore[attr-defined]
    return await keyset_page(session, filtered, key, limit, after, newest_first=newest_first)


async def by_name_or_id(session: AsyncSession, model: type[M], column: Any, ref: str) -> M | None:
    """The row whose ``column`` equals ``ref``, or, for an all-digit ``ref`` that names
    nothing, the row with that id (how the CLI lets people name things)."""
    named = await session.scalar(select(model).where(column == ref))
    if named is None and ref.isdigit() and int(ref) <= MAX_ID:
        return await session.get(model, int(ref))
    return named


class Catalogue(Generic[M]):
    """What every named catalogue table (applications, infrastructure, host roles,
    playbooks) answers the same way: a row by id, whether a name is taken, a filtered
    keyset page. A domain's repository binds one and adds only its own queries."""

    def __init__(self, model: type[M], name: Any) -> None:
        self.model = model
        self.name = name

    async def get(self, session: AsyncSession, row_id: int) -> M | None:
        return await session.get(self.model, row_id)

    async def by_reference(self, session: AsyncSession, ref: str) -> M | None:
        """A row by name, or by id (a command's argument)."""
        return await by_name_or_id(session, self.model, self.name, ref)

    async def name_taken(
        self, session: AsyncSession, name: str, other_than: int | None = None
    ) -> bool:
        return await value_taken(session, self.name, name, other_than)

    async def page(
        self, session: AsyncSession, filters: dict[str, Any], limit: int, after: int | None
    ) -> Rows[M]:
        return await page(session, self.model, filters, limit, after)
