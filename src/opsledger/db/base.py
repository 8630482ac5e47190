"""Declarative base with one constraint naming convention, and the column mixins."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import BigInteger, Integer, MetaData
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from opsledger.db.types import UTCDateTime

# Every constraint gets a predictable name, so migrations are identical on each backend
# and a later migration can drop a constraint by name.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# MySQL/MariaDB: InnoDB for foreign keys and transactions, utf8mb4 for any text.
MYSQL_TABLE_OPTIONS = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
}

# SQLite autoincrements only an ``INTEGER PRIMARY KEY``; elsewhere high-volume tables get 64 bits.
BigIntegerKey = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


def table_args(*items: Any) -> tuple[Any, ...]:
    """``__table_args__`` for a model: its indexes and constraints, plus the MySQL options."""
    return (*items, MYSQL_TABLE_OPTIONS)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}
    __table_args__: Any = MYSQL_TABLE_OPTIONS


class IdMixin:
    id: Mapped[int] = mapped_column(Integer, primary_key=True, sort_order=-10)


class CreatedMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow, sort_order=10)


class TimestampMixin(CreatedMixin):
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, sort_order=10)


class SoftDeleteMixin:
    deleted_at: Mapped[datetime | None] = mapped_column(default=None, sort_order=10)
