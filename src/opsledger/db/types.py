"""Column types that behave the same on SQLite, PostgreSQL and MySQL/MariaDB, and reading
a member of a JSON document the same way on each."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Dialect,
    SQLColumnExpression,
    String,
    Text,
    bindparam,
    case,
    cast,
    func,
    or_,
    select,
)
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter, ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator, TypeEngine

from opsledger.security.crypto import key_ring


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on every backend.

    PostgreSQL stores ``timestamptz``; MySQL (``DATETIME(6)``) and SQLite store naive UTC.
    Naive datetimes are refused on write: a guessed timezone is a silent corruption.
    """

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.TIMESTAMP(timezone=True))
        if dialect.name == "mysql":
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime: opsledger stores aware UTC datetimes only")
        value = value.astimezone(UTC)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        """One call a value (a log page reads 500), and the cheapest one: a
        TypeDecorator's chain of calls, then ``replace(tzinfo=UTC)`` (~1 us a value),
        were half the CPU of a log page on SQLite."""
        if dialect.name == "postgresql" and dialect.driver == "asyncpg":
            return None  # asyncpg hands back timestamptz as aware UTC: no per-row work
        read = self.load_dialect_impl(dialect).result_processor(dialect, coltype)
        if read is None:
            return _as_utc
        if dialect.name == "sqlite":

            def read_text(value: str | None) -> datetime | None:
                # The naive UTC text SQLAlchemy writes, read with its zone in one call.
                if value is None:
                    return None
                try:
                    parsed = datetime.fromisoformat(value + "+00:00")
                except ValueError:
                    parsed = None
                if parsed is None or parsed.tzinfo is None:  # another form (a date alone)
                    return _as_utc(read(value))
                return parsed

            return read_text

        def read_as_utc(value: Any) -> datetime | None:
            return _as_utc(read(value))

        return read_as_utc


def _as_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:  # naive UTC: made aware (twice as fast as replace())
        return datetime(
            value.year,
            value.month,
            value.day,
            value.hour,
            value.minute,
            value.second,
            value.microsecond,
            UTC,
        )
    return value.astimezone(UTC)


def identical(a: Any, b: Any) -> bool:
    """Equal, and of the same type all the way down: 1, 1.0 and True are equal in Python
    but three different JSON values."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(identical(a[key], b[key]) for key in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(map(identical, a, b))
    return bool(a == b)


class JSONDocument(TypeDecorator[Any]):
    """JSON everywhere, ``jsonb`` on PostgreSQL so it can be indexed and compared."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.JSONB())
        return dialect.type_descriptor(JSON())

    def compare_values(self, x: Any, y: Any) -> bool:
        """Whether a flush may skip writing ``y`` over ``x``: only when identical (the
        ORM's ``==`` took ``{"weight": true}`` for ``{"weight": 1}`` and kept the 1)."""
        return identical(x, y)


class _MemberName(TypeDecorator[str]):
    """The name of a JSON object's member, bound as a parameter. MySQL/MariaDB can only
    name a member by a JSON path, so there it is bound as ``$."<name>"``, the name quoted
    exactly as ``json.dumps`` wrote it into the document: MariaDB compares a path's member
    name with the stored text, escapes included, where MySQL decodes both."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None or dialect.name != "mysql":
            return value
        return f"$.{json.dumps(value)}"


class _MemberText(FunctionElement[str]):
    type = String()
    inherit_cache = True
    name = "member_text"


def member_name(key: str) -> BindParameter[str]:
    """A member's name bound at execution as parameter ``key`` (a statement built once)."""
    return bindparam(key, type_=_MemberName())


def member_text(
    document: SQLColumnExpression[Any], name: str | BindParameter[str]
) -> ColumnElement[str]:
    """The text of member ``name`` of a JSON object of scalars (a string as itself, a number
    or boolean as its JSON text, so a filter reads the same on every backend), or NULL when
    the object has no such member. ``name`` (or ``member_name``'s parameter) is a bound
    parameter on every backend, never spliced into a path: any name matches, ``"``, ``.``,
    ``[``, ``$`` and all."""
    if isinstance(name, str):
        name = bindparam(None, name, type_=_MemberName())
    return _MemberText(document, name)


@compiles(_MemberText)
def _member_text_postgresql(element: _MemberText, compiler: SQLCompiler, **kw: Any) -> str:
    document, name = element.clauses
    return compiler.process(document.op("->>", return_type=String())(name), **kw)


@compiles(_MemberText, "mysql")
def _member_text_mysql(element: _MemberText, compiler: SQLCompiler, **kw: Any) -> str:
    document, path = element.clauses
    return compiler.process(func.json_unquote(func.json_extract(document, path)), **kw)


@compiles(_MemberText, "sqlite")
def _member_text_sqlite(element: _MemberText, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite's JSON paths cannot quote a name holding '"' (and compare names undecoded):
    # json_each hands back every member's decoded name to compare with the parameter.
    # Its value column reads true and false as 1 and 0, hence the CASE.
    document, name = element.clauses
    member = func.json_each(document).table_valued("key", "value", "type").alias("json_member")
    text = case(
        (or_(member.c.type == "true", member.c.type == "false"), member.c.type),
        else_=cast(member.c.value, String()),
    )
    found = select(text).where(member.c.key == name).scalar_subquery()
    return compiler.process(found, **kw)


class LongText(TypeDecorator[str]):
    """Text that may exceed 64 KiB (a log line with a large result): MEDIUMTEXT on MySQL."""

    impl = Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "mysql":
            return dialect.type_descriptor(mysql.MEDIUMTEXT())
        return dialect.type_descriptor(Text())


class EncryptedString(TypeDecorator[str]):
    """A string stored as a Fernet token (``gAAAAA…``) under the process key ring.

    Plaintext never reaches the database; equal plaintexts produce different tokens.
    """

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else key_ring().encrypt(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else key_ring().decrypt(value)
