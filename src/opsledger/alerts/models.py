"""A monitoring alert and where it points: a host, a deployment, or neither."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from opsledger.db.base import Base, IdMixin, TimestampMixin, table_args, utcnow
from opsledger.db.types import JSONDocument
from opsledger.kit.enums import enum_column


class AlertSeverity(StrEnum):
    info = "info"
    warning = "warning"
    critical = "critical"


class AlertStatus(StrEnum):
    firing = "firing"
    acknowledged = "acknowledged"
    resolved = "resolved"


class MonitoringAlert(IdMixin, TimestampMixin, Base):
    __tablename__ = "monitoring_alerts"
    __table_args__ = table_args(
        Index(None, "status", "severity"),
        Index(None, "host_id"),
        Index(None, "deployment_id"),
        Index(None, "fingerprint"),
        Index(None, "acknowledged_by"),
        Index(None, "remediation_run_id"),
    )

    source: Mapped[str] = mapped_column(String(100))
    severity: Mapped[AlertSeverity] = mapped_column(enum_column(AlertSeverity, "alert_severity"))
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text, default=None)
    labels: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, default=None)
    # Identifies the same alert across repeated webhook deliveries (Alertmanager's fingerprint).
    fingerprint: Mapped[str | None] = mapped_column(String(64), default=None)
    status: Mapped[AlertStatus] = mapped_column(
        enum_column(AlertStatus, "alert_status"), default=AlertStatus.firing
    )
    host_id: Mapped[int | None] = mapped_column(
        ForeignKey("hosts.id", ondelete="SET NULL"), default=None
    )
    deployment_id: Mapped[int | None] = mapped_column(
        ForeignKey("deployments.id", ondelete="SET NULL"), default=None
    )
    starts_at: Mapped[datetime] = mapped_column(default=utcnow)
    acknowledged_at: Mapped[datetime | None] = mapped_column(default=None)
    acknowledged_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    # The run a trigger's remediation launched for this alert, and what came of it
    # ("<trigger>: run 12", or why nothing was launched).
    remediation_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("runs.id", ondelete="SET NULL"), default=None
    )
    remediation: Mapped[str | None] = mapped_column(Text, default=None)
