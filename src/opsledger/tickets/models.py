"""Tickets with priority-driven due dates."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Index, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from opsledger.db.base import Base, IdMixin, TimestampMixin, table_args
from opsledger.kit.enums import enum_column

if TYPE_CHECKING:
    from opsledger.jobs.models import Job


class TicketStatus(StrEnum):
    open = "open"
    in_progress = "in_progress"
    resolved = "resolved"
    closed = "closed"


class TicketPriority(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"


class Ticket(IdMixin, TimestampMixin, Base):
    __tablename__ = "tickets"
    __table_args__ = table_args(
        Index(None, "job_id"),
        Index(None, "created_by"),
        Index(None, "status"),
        Index(None, "status", "priority"),
        Index(None, "due_at"),
        Index(None, "overdue_notified_at", "due_at"),
    )

    uuid: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True, default=uuid.uuid4)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="RESTRICT"))
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text, default=None)
    status: Mapped[TicketStatus] = mapped_column(
        enum_column(TicketStatus, "ticket_status"), default=TicketStatus.open
    )
    priority: Mapped[TicketPriority] = mapped_column(
        enum_column(TicketPriority, "ticket_priority"), default=TicketPriority.medium
    )
    due_at: Mapped[datetime | None] = mapped_column(default=None)
    # When ticket.overdue was told for its due date (set back when the due date moves).
    overdue_notified_at: Mapped[datetime | None] = mapped_column(default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)

    job: Mapped[Job] = relationship(lazy="raise")
