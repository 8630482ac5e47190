"""Where notifications go (channels), which events go where (rules), and the outbox: one
delivery per event and channel, written with the event, and every attempt to send it."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from opsledger.alerts.models import AlertSeverity
from opsledger.db.base import Base, BigIntegerKey, CreatedMixin, IdMixin, TimestampMixin, table_args
from opsledger.db.types import EncryptedString, JSONDocument
from opsledger.kit.enums import enum_column
from opsledger.tickets.models import TicketPriority


class EventName(StrEnum):
    """What a rule may route. Kept as text, not a CHECK constraint: a new event is a new
    member here, no migration."""

    job_started = "job.started"
    job_succeeded = "job.succeeded"
    job_failed = "job.failed"
    job_timed_out = "job.timed_out"  # failed: its time limit stopped it
    job_recovered = "job.recovered"  # succeeded where the one before it had failed
    run_started = "run.started"
    run_succeeded = "run.succeeded"
    run_failed = "run.failed"
    run_timed_out = "run.timed_out"
    run_recovered = "run.recovered"
    ticket_opened = "ticket.opened"
    ticket_overdue = "ticket.overdue"  # still open past its SLA's due date
    alert_firing = "alert.firing"
    alert_resolved = "alert.resolved"
    schedule_skipped = "schedule.skipped"  # a due time passed without a run, and why
    schedule_failed = "schedule.failed"  # a due time's launch was refused


# A narrower event reaches the rules of the broader one too (a timeout is a failure, a
# recovery a success), and a channel both route it to gets it once.
BROADER = {
    EventName.job_timed_out: EventName.job_failed,
    EventName.job_recovered: EventName.job_succeeded,
    EventName.run_timed_out: EventName.run_failed,
    EventName.run_recovered: EventName.run_succeeded,
}


class ChannelKind(StrEnum):
    webhook = "webhook"  # JSON POST, signed with the channel's secret
    slack = "slack"  # a Slack-compatible incoming webhook
    email = "email"  # SMTP, through the server the OPSLEDGER_SMTP_* settings name


class DeliveryStatus(StrEnum):
    pending = "pending"  # waiting for its next attempt
    sending = "sending"  # claimed by a dispatcher until claimed_until
    delivered = "delivered"
    dead = "dead"  # out of attempts; an admin may retry it


class NotificationChannel(IdMixin, TimestampMixin, Base):
    __tablename__ = "notification_channels"

    name: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[ChannelKind] = mapped_column(enum_column(ChannelKind, "notification_kind"))
    # Encrypted: a Slack webhook's URL is its credential, and many webhooks carry tokens.
    url: Mapped[str | None] = mapped_column(EncryptedString, default=None)
    recipients: Mapped[list[str] | None] = mapped_column(JSONDocument, default=None)
    # The webhook's signing key (HMAC-SHA256).
    secret: Mapped[str | None] = mapped_column(EncryptedString, default=None)
    enabled: Mapped[bool] = mapped_column(default=True)


class NotificationRule(IdMixin, TimestampMixin, Base):
    """An event routed to a channel; each filter given must match (None: any)."""

    __tablename__ = "notification_rules"
    __table_args__ = table_args(
        Index(None, "event", "enabled"), Index(None, "channel_id"), Index(None, "template_id")
    )

    channel_id: Mapped[int] = mapped_column(
        ForeignKey("notification_channels.id", ondelete="CASCADE")
    )
    event: Mapped[str] = mapped_column(String(64))
    min_priority: Mapped[TicketPriority | None] = mapped_column(
        enum_column(TicketPriority, "notification_min_priority"), default=None
    )
    min_severity: Mapped[AlertSeverity | None] = mapped_column(
        enum_column(AlertSeverity, "notification_min_severity"), default=None
    )
    environment: Mapped[str | None] = mapped_column(String(50), default=None)
    # A rule for one template goes with it (it would otherwise widen to every template).
    template_id: Mapped[int | None] = mapped_column(
        ForeignKey("job_templates.id", ondelete="CASCADE"), default=None
    )
    enabled: Mapped[bool] = mapped_column(default=True)


class NotificationDelivery(CreatedMixin, Base):
    """One event for one channel (the outbox row), written in the event's transaction."""

    __tablename__ = "notification_deliveries"
    __table_args__ = table_args(
        Index(None, "status", "next_attempt_at"),
        Index(None, "channel_id", "id"),
        Index(None, "rule_id"),
    )

    id: Mapped[int] = mapped_column(BigIntegerKey, primary_key=True, sort_order=-10)
    # The Idempotency-Key receivers see: the same on every attempt.
    uuid: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True, default=uuid.uuid4)
    channel_id: Mapped[int] = mapped_column(
        ForeignKey("notification_channels.id", ondelete="CASCADE")
    )
    rule_id: Mapped[int | None] = mapped_column(
        ForeignKey("notification_rules.id", ondelete="SET NULL"), default=None
    )
    event: Mapped[str] = mapped_column(String(64))
    # What happened, as the message says it: text, subject, link, the event's facts.
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    status: Mapped[DeliveryStatus] = mapped_column(
        enum_column(DeliveryStatus, "notification_delivery_status"),
        default=DeliveryStatus.pending,
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Attempts left before it is dead; a retry by an admin gives it a full set again.
    tries_left: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime]
    # A claim lasts until then: a dispatcher that died mid-send leaves it to another.
    claimed_until: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    response_status: Mapped[int | None] = mapped_column(Integer, default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)


class NotificationAttempt(CreatedMixin, Base):
    """One try at sending a delivery, as it went (append-only)."""

    __tablename__ = "notification_attempts"
    __table_args__ = table_args(Index(None, "delivery_id", "id"))

    id: Mapped[int] = mapped_column(BigIntegerKey, primary_key=True, sort_order=-10)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("notification_deliveries.id", ondelete="CASCADE")
    )
    number: Mapped[int] = mapped_column(Integer)
    ok: Mapped[bool]
    # The HTTP status, or the SMTP server's reply code.
    response_status: Mapped[int | None] = mapped_column(Integer, default=None)
    # The start of the HTTP body, or the SMTP server's reply.
    reply: Mapped[str | None] = mapped_column(Text, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    duration_ms: Mapped[int] = mapped_column(Integer)
