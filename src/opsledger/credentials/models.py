"""Host credentials (SSH keys, passwords, tokens), encrypted at rest."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from opsledger.db.base import Base, IdMixin, TimestampMixin, table_args
from opsledger.db.types import EncryptedString
from opsledger.kit.enums import enum_column


class CredentialType(StrEnum):
    ssh_key = "ssh_key"
    password = "password"  # noqa: S105 - a credential kind, not a password
    token = "token"  # noqa: S105


class Credential(IdMixin, TimestampMixin, Base):
    __tablename__ = "credentials"
    # Serves "the active credentials of one type on a host" (runs, deactivate by type).
    __table_args__ = table_args(Index(None, "host_id", "type", "is_active"))

    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id", ondelete="CASCADE"))
    type: Mapped[CredentialType] = mapped_column(enum_column(CredentialType, "credential_type"))
    username: Mapped[str] = mapped_column(String(100))
    value: Mapped[str] = mapped_column(EncryptedString)
    is_active: Mapped[bool] = mapped_column(default=True)
    rotated_at: Mapped[datetime | None] = mapped_column(default=None)
