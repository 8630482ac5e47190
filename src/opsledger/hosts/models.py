"""Hosts (the machines playbooks run on) and their lifecycle status."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from opsledger.db.base import Base, IdMixin, TimestampMixin, table_args
from opsledger.db.types import JSONDocument
from opsledger.kit.enums import enum_column

if TYPE_CHECKING:
    from opsledger.host_roles.models import HostRole


class HostStatus(StrEnum):
    new = "new"
    provisioning = "provisioning"
    deployed = "deployed"
    failed = "failed"
    decommissioned = "decommissioned"


class Host(IdMixin, TimestampMixin, Base):
    __tablename__ = "hosts"
    __table_args__ = table_args(
        Index(None, "ip_address"),
        Index(None, "is_active", "environment"),
        Index(None, "status"),
        Index(None, "host_role_id"),
    )

    hostname: Mapped[str] = mapped_column(String(255), unique=True)
    ip_address: Mapped[str] = mapped_column(String(45))
    os_type: Mapped[str] = mapped_column(String(50))
    os_version: Mapped[str | None] = mapped_column(String(50), default=None)
    ssh_port: Mapped[int] = mapped_column(Integer, default=22)
    ssh_user: Mapped[str] = mapped_column(String(50), default="root")
    ssh_key_path: Mapped[str | None] = mapped_column(String(500), default=None)
    tags: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, default=None)
    environment: Mapped[str | None] = mapped_column(String(50), default=None)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    host_role_id: Mapped[int | None] = mapped_column(
        ForeignKey("host_roles.id", ondelete="SET NULL"), default=None
    )
    status: Mapped[HostStatus] = mapped_column(
        enum_column(HostStatus, "host_status"), default=HostStatus.new
    )
    error_message: Mapped[str | None] = mapped_column(Text, default=None)
    status_changed_at: Mapped[datetime | None] = mapped_column(default=None)
    provisioned_at: Mapped[datetime | None] = mapped_column(default=None)
    is_active: Mapped[bool] = mapped_column(default=True)

    role: Mapped[HostRole | None] = relationship(lazy="raise")
