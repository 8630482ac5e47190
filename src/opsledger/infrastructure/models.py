"""Infrastructure: provider, region and configuration; provider secrets stay encrypted."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, MappedColumn, column_property, mapped_column

from opsledger.db.base import Base, IdMixin, TimestampMixin
from opsledger.db.types import EncryptedString, JSONDocument


class Infrastructure(IdMixin, TimestampMixin, Base):
    __tablename__ = "infrastructure"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    provider: Mapped[str] = mapped_column(String(50))
    region: Mapped[str | None] = mapped_column(String(50), default=None)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    config: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, default=None)
    # A JSON document of provider credentials, encrypted as one value. Never loaded
    # unless asked for: listings must not decrypt what they will not show.
    secret_config: Mapped[str | None] = mapped_column(
        EncryptedString, default=None, deferred=True, deferred_raiseload=True
    )
    has_secrets: Mapped[bool] = column_property(
        cast("MappedColumn[str | None]", secret_config).column.is_not(None)
    )
