"""An owner's external-service secret; the value is encrypted and only revealed on request."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from opsledger.db.base import Base, IdMixin, TimestampMixin, table_args
from opsledger.db.types import EncryptedString


class Secret(IdMixin, TimestampMixin, Base):
    __tablename__ = "secrets"
    __table_args__ = table_args(UniqueConstraint("user_id", "service_name", "key_name"))

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    service_name: Mapped[str] = mapped_column(String(100))
    key_name: Mapped[str] = mapped_column(String(100))
    value: Mapped[str] = mapped_column(EncryptedString)
