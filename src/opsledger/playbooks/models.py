"""Playbook metadata; the file's SHA-256 is re-checked before every run."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from opsledger.db.base import Base, IdMixin, TimestampMixin
from opsledger.db.types import JSONDocument


class Playbook(IdMixin, TimestampMixin, Base):
    __tablename__ = "playbooks"

    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    file_path: Mapped[str] = mapped_column(String(500))
    file_hash: Mapped[str] = mapped_column(String(64))
    tags: Mapped[list[Any] | None] = mapped_column(JSONDocument, default=None)
    variables: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, default=None)
    is_active: Mapped[bool] = mapped_column(default=True)
