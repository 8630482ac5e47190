"""An application: where its code lives and how it is configured."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from opsledger.db.base import Base, IdMixin, TimestampMixin
from opsledger.db.types import JSONDocument


class Application(IdMixin, TimestampMixin, Base):
    __tablename__ = "applications"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    repo_url: Mapped[str | None] = mapped_column(String(500), default=None)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    config: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, default=None)
