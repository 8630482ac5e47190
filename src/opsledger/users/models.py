"""Users: who may act, in which role."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from opsledger.db.base import Base, IdMixin, TimestampMixin, table_args
from opsledger.kit.enums import enum_column


class UserRole(StrEnum):
    admin = "admin"
    operator = "operator"
    viewer = "viewer"


class User(IdMixin, TimestampMixin, Base):
    __tablename__ = "users"
    __table_args__ = table_args(Index(None, "role"))

    # Canonical (users.schemas.canonical); on MySQL/MariaDB compared byte for byte, with
    # no padding (a binary collation named per server by migration 0008).
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
    # Failed logins before this instant no longer count against the per-user limit.
    login_unlocked_at: Mapped[datetime | None] = mapped_column(default=None)


class RevokedToken(Base):
    """A signed-out token, refused until it would have expired anyway (then purged)."""

    __tablename__ = "revoked_tokens"
    __table_args__ = table_args(Index(None, "expires_at"))

    token_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column()
