"""Infrastructure: provider, region and configuration; provider secrets stay encrypted."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from opsledger.db.base import Base, IdMixin, TimestampMixin
from opsledger.db.types import EncryptedString, JSONDocument


class Infrastructure(IdMixin, TimestampMixin, Base):
    __tablename__ = "infrastructure"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    provider: Mapped[str] = mapped_column(String(50))
    region: Mapped[str | None] = mapped_column(String(50), default=None)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    config: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, default=None)
    # A JSON document of provider credentials, encrypted as one value.
    secret_config: Mapped[str | None] = mapped_column(EncryptedString, default=None)
