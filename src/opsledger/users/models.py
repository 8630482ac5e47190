"""Users (seed 002/003) and their API keys (seed 003)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from opsledger.db.base import Base, CreatedMixin, IdMixin, TimestampMixin, table_args
from opsledger.db.types import JSONDocument
from opsledger.kit.enums import enum_column


class UserRole(StrEnum):
    admin = "admin"
    operator = "operator"
    viewer = "viewer"


class User(IdMixin, TimestampMixin, Base):
    __tablename__ = "users"
    __table_args__ = table_args(Index(None, "role"))

    username: Mapped[str] = mapped_column(String(80), unique=True)
    email: Mapped[str] = mapped_column(String(120), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[UserRole] = mapped_column(
        enum_column(UserRole, "user_role"), default=UserRole.viewer
    )
    is_active: Mapped[bool] = mapped_column(default=True)
    # Bumped by logout-all, password change and deactivation: every older token dies.
    token_version: Mapped[int] = mapped_column(Integer, default=0)
    last_login: Mapped[datetime | None] = mapped_column(default=None)

    api_keys: Mapped[list[ApiKey]] = relationship(
        back_populates="user", lazy="raise", passive_deletes=True
    )


class ApiKey(IdMixin, CreatedMixin, Base):
    __tablename__ = "api_keys"
    __table_args__ = table_args(Index(None, "user_id"))

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    # The public part of ``olk_<prefix>_<secret>``: one indexed lookup finds the key row.
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    # SHA-256 of the whole key; the key itself is shown once and never stored.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[Any] | None] = mapped_column(JSONDocument, default=None)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)

    user: Mapped[User] = relationship(back_populates="api_keys", lazy="raise")
