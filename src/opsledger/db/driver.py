"""Core selects read by the database driver itself, for the reads a request makes on every
call (its credentials, the row or page it answers with) and those that return hundreds of
rows (log pages). SQLAlchemy's result layer costs ~2 ms of CPU for 500 rows on asyncpg,
more than the query, and loading one ORM object to answer with it ~0.6 ms; here a
statement is compiled once per dialect, its rows come straight from the driver, and only
the columns whose type needs it (an aware UTC timestamp from MySQL or SQLite) are
converted, by the type's own result processor: the values are what the same select
through SQLAlchemy returns. Work that changes rows loads them through the ORM."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import BindParameter, ColumnElement

from opsledger.db.queries import keyset
from opsledger.kit.pagination import Rows

Row = Sequence[Any]


Process = Callable[[Any], Any]


@dataclass(frozen=True)
class _Parameter:
    name: str
    fixed: Any  # the value the statement itself binds (a literal limit), else None
    bind: Process | None  # the type's bind processor


@dataclass(frozen=True)
class _Compiled:
    sql: str
    named: frozenset[str]  # the parameters each call binds
    parameters: tuple[_Parameter, ...]  # in the order the SQL takes them
    processors: tuple[tuple[int, Process], ...]  # (column index, result processor)


class DriverSelect:
    """``statement`` (its values as named ``bindparam``s), run as ``await rows(session,
    name=value, ...)`` on the session's connection. For a read session (a reader's, or on
    the follower): nothing is flushed first, and on PostgreSQL a write session's
    transaction would not have begun yet. Bound values go to the driver converted as
    SQLAlchemy would convert them (an enum to its text, a boolean to 1 on SQLite)."""

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        self._by_dialect: dict[tuple[str, str], _Compiled] = {}

    def _compiled(self, dialect: Dialect) -> _Compiled:
        key = (dialect.name, dialect.driver)
        found = self._by_dialect.get(key)
        if found is None:
            compiled = self.statement.compile(dialect=dialect)
            if compiled.post_compile_params:
                raise TypeError("a list bound at execution (IN) is not read by the driver")
            parameters = tuple(
                _Parameter(
                    name,
                    compiled.params.get(name),
                    compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect),
                )
                for name in compiled.positiontup or ()
            )
            processors = tuple(
                (index, process)
                for index, column in enumerate(self.statement.selected_columns)
                if (process := column.type.dialect_impl(dialect).result_processor(dialect, None))
            )
            named = frozenset(p.name for p in parameters if p.fixed is None)
            found = _Compiled(compiled.string, named, parameters, processors)
            self._by_dialect[key] = found
        return found

    async def rows(self, session: AsyncSession, **values: Any) -> list[Row]:
        """The rows; a failure is the ``OperationalError`` any other statement's would be
        (503 over HTTP, one line in a command), and the connection is not pooled again."""
        connection = await session.run_sync(_connection)
        compiled = self._compiled(connection.dialect)
        if compiled.named != values.keys():
            raise TypeError(f"{sorted(compiled.named)} are bound, not {sorted(values)}")
        parameters = [
            value if p.bind is None else p.bind(value)
            for p in compiled.parameters
            for value in (p.fixed if p.fixed is not None else values[p.name],)
        ]
        driver = connection.connection.driver_connection
        try:
            rows = await _FETCH[connection.dialect.driver](driver, compiled.sql, parameters)
        except Exception as exc:
            # The driver's own exception, wrapped as SQLAlchemy wraps one: the driver's
            # message, without the parameters appended (the engine hides them too).
            await session.run_sync(lambda _session, failure: connection.invalidate(failure), exc)
            raise OperationalError(compiled.sql, None, exc, hide_parameters=True) from exc
        if not compiled.processors:
            return rows
        converted: list[Row] = []
        for row in rows:
            cells = list(row)
            for index, process in compiled.processors:
                if cells[index] is not None:
                    cells[index] = process(cells[index])
            converted.append(cells)
        return converted


def _connection(session: Session) -> Connection:
    """The session's connection, checked out and with its driver's connection at hand:
    fetched in one hop to SQLAlchemy's greenlet (``AsyncSession.connection`` and then
    ``get_raw_connection`` were two, ~10 us of CPU a read)."""
    connection = session.connection()
    connection.connection  # noqa: B018 - revalidated here, in the greenlet, if it must be
    return connection


async def _asyncpg(driver: Any, sql: str, parameters: list[Any]) -> list[Row]:
    rows: list[Row] = await driver.fetch(sql, *parameters)
    return rows


async def _asyncmy(driver: Any, sql: str, parameters: list[Any]) -> list[Row]:
    async with driver.cursor() as cursor:
        await cursor.execute(sql, parameters)
        rows: list[Row] = await cursor.fetchall()
        return rows


async def _aiosqlite(driver: Any, sql: str, parameters: list[Any]) -> list[Row]:
    # One hop to aiosqlite's thread for the statement and its rows (a cursor's execute,
    # fetch and close were three).
    rows: list[Row] = list(await driver.execute_fetchall(sql, parameters))
    return rows


_FETCH = {"asyncpg": _asyncpg, "asyncmy": _asyncmy, "aiosqlite": _aiosqlite}


def _columns(model: type[Any]) -> dict[str, Any]:
    """``model``'s columns by their mapped attribute names."""
    return {attribute.key: attribute.columns[0] for attribute in model.__mapper__.column_attrs}


class RowsById:
    """Rows of ``model`` by id, each as a dict of the columns asked for, read by the driver:
    for an answer made of a row's own columns (``GET /hosts/{id}``), where loading an ORM
    object to read it costs ~0.6 ms of CPU more a request (bench/request_path.py,
    PostgreSQL). A read session's, as ``DriverSelect`` is."""

    def __init__(self, model: type[Any]) -> None:
        self._columns = _columns(model)
        self._id = self._columns["id"]
        self._selects: dict[tuple[str, ...], DriverSelect] = {}

    async def get(
        self, session: AsyncSession, row_id: int, names: Iterable[str]
    ) -> dict[str, Any] | None:
        """The row's ``names`` (mapped attribute names), or None when no row has the id."""
        key = tuple(names)
        statement = self._selects.get(key)
        if statement is None:
            chosen = select(*(self._columns[name] for name in key))
            statement = DriverSelect(chosen.where(self._id == bindparam("row_id")))
            self._selects[key] = statement
        rows = await statement.rows(session, row_id=row_id)
        return dict(zip(key, rows[0], strict=True)) if rows else None


@dataclass(frozen=True)
class Bound:
    """A condition a list adds to its column filters: ``clause`` builds it with its values
    as named parameters (``bindparam``), once for each ``shape``; ``values`` binds them."""

    shape: Hashable
    clause: Callable[[], ColumnElement[bool]]
    values: Mapping[str, Any]


class DriverPages:
    """Keyset pages of ``model``'s rows for a list's answer, each row a dict of the columns
    asked for, read by the driver (as ``RowsById`` reads one row): the statement of each
    shape (the columns, the filters given, the conditions added, from the start or after a
    cursor) is built and compiled once, and each read binds its values. It pages as every
    list does, by ``queries.keyset``. A read session's, as ``DriverSelect`` is."""

    PAGING = frozenset({"after", "fetch"})  # the parameters it binds besides the filters

    def __init__(self, model: type[Any]) -> None:
        self._columns = _columns(model)
        if clash := self.PAGING & self._columns.keys():
            raise TypeError(f"a filter on {sorted(clash)} would bind the page's own parameter")
        self._key = self._columns["id"]
        self._shapes: dict[Hashable, DriverSelect] = {}

    async def page(
        self,
        session: AsyncSession,
        names: Iterable[str],
        filters: Mapping[str, Any],
        limit: int,
        after: int | None,
        *conditions: Bound,
    ) -> Rows[dict[str, Any]]:
        """Rows whose columns equal ``filters`` (by attribute name) and that meet
        ``conditions``, ``limit`` of them after the cursor ``after``."""
        chosen = tuple(names)
        shape = (chosen, tuple(filters), tuple(c.shape for c in conditions), after is None)
        statement = self._shapes.get(shape)
        if statement is None:
            matching = select(*(self._columns[name] for name in chosen)).where(
                *(self._columns[name] == bindparam(name) for name in filters),
                *(condition.clause() for condition in conditions),
            )
            cursor: BindParameter[int] | None = None if after is None else bindparam("after")
            statement = DriverSelect(keyset(matching, self._key, cursor, bindparam("fetch")))
            self._shapes[shape] = statement
        values = dict(filters, fetch=limit + 1)
        for condition in conditions:
            values.update(condition.values)
        if after is not None:
            values["after"] = after
        rows = await statement.rows(session, **values)
        fetched = [dict(zip(chosen, row, strict=True)) for row in rows]
        return Rows.cut(fetched, limit, itemgetter("id"))
