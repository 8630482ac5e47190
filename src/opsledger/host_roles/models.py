"""A host role names the playbook that provisions a host of that kind."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from opsledger.db.base import Base, IdMixin, TimestampMixin, table_args
from opsledger.db.types import JSONDocument

if TYPE_CHECKING:
    from opsledger.playbooks.models import Playbook


class HostRole(IdMixin, TimestampMixin, Base):
    __tablename__ = "host_roles"
    __table_args__ = table_args(Index(None, "default_playbook_id"))

    name: Mapped[str] = mapped_column(String(50), unique=True)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    default_playbook_id: Mapped[int | None] = mapped_column(
        ForeignKey("playbooks.id", ondelete="SET NULL"), default=None
    )
    variables: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, default=None)

    default_playbook: Mapped[Playbook | None] = relationship(lazy="raise")
