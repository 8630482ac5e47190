"""A trigger: a job template other systems launch over a signed webhook, as the trigger's
owner, with prompt values taken from the payload only where a JSON pointer names them;
and each delivery, accepted or refused (never the body itself)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from opsledger.db.base import Base, BigIntegerKey, CreatedMixin, IdMixin, TimestampMixin, table_args
from opsledger.db.types import EncryptedString, JSONDocument
from opsledger.kit.enums import enum_column


class DeliveryOutcome(StrEnum):
    launched = "launched"
    duplicate = "duplicate"  # a delivery id seen before: nothing launched
    refused = "refused"  # bad signature, stale, over the rate, frozen, bad values


# What a delivery nobody signed is refused with (a bad or missing signature, too large).
UNSIGNED_STATUSES = (401, 413)


class Trigger(IdMixin, TimestampMixin, Base):
    __tablename__ = "triggers"
    __table_args__ = table_args(Index(None, "template_id"), Index(None, "user_id"))

    name: Mapped[str] = mapped_column(String(255), unique=True)
    # A template stays while a trigger launches it.
    template_id: Mapped[int] = mapped_column(ForeignKey("job_templates.id", ondelete="RESTRICT"))
    # Whose runs its launches are.
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    # What signs its deliveries, shown once when made.
    secret: Mapped[str] = mapped_column(EncryptedString)
    # Prompt name -> the JSON pointer (RFC 6901) in the payload its value is read from.
    prompts: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    rate_per_minute: Mapped[int]
    # Alert label -> the value it must have: a new firing alert whose labels hold them all
    # launches the template against the alert's host (None: no alert launches it).
    alert_matchers: Mapped[dict[str, str] | None] = mapped_column(JSONDocument, default=None)
    enabled: Mapped[bool] = mapped_column(default=True)


class TriggerDelivery(CreatedMixin, Base):
    """One delivery to a trigger and what came of it (append-only)."""

    __tablename__ = "trigger_deliveries"
    __table_args__ = table_args(
        Index(None, "trigger_id", "created_at"),
        Index(None, "run_id"),
        # Each signature launches at most once per trigger, however many arrive at once.
        UniqueConstraint("trigger_id", "launched_delivery"),
    )

    id: Mapped[int] = mapped_column(BigIntegerKey, primary_key=True, sort_order=-10)
    trigger_id: Mapped[int] = mapped_column(ForeignKey("triggers.id", ondelete="CASCADE"))
    delivery_id: Mapped[str | None] = mapped_column(String(100), default=None)
    # On launched deliveries only, what the unique key holds: what the signature covers
    # ("sha256:<the body's SHA-256>" for GitHub's form, "v1:<hex>" for ours), so that a
    # captured signed body launches once whatever delivery id it is sent with.
    launched_delivery: Mapped[str | None] = mapped_column(String(100), default=None)
    outcome: Mapped[DeliveryOutcome] = mapped_column(
        enum_column(DeliveryOutcome, "trigger_delivery_outcome")
    )
    status_code: Mapped[int]
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    # The body's size and SHA-256, to match a delivery with the sender's log.
    body_bytes: Mapped[int]
    body_sha256: Mapped[str] = mapped_column(String(64))
    run_id: Mapped[int | None] = mapped_column(
        ForeignKey("runs.id", ondelete="SET NULL"), default=None
    )
