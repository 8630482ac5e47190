"""A freeze window: once (from ``starts_at`` to ``ends_at``) or recurring (each time a cron
expression names in a zone, for ``duration_minutes``), over every host or only those of
some environments or host roles."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from opsledger.db.base import Base, IdMixin, TimestampMixin, table_args
from opsledger.db.types import JSONDocument


class FreezeWindow(IdMixin, TimestampMixin, Base):
    __tablename__ = "freeze_windows"
    __table_args__ = table_args(
        CheckConstraint("(cron IS NULL) = (duration_minutes IS NULL)", name="cron_has_duration"),
        CheckConstraint("(cron IS NULL) <> (starts_at IS NULL)", name="once_or_recurring"),
    )

    name: Mapped[str] = mapped_column(String(255), unique=True)
    starts_at: Mapped[datetime | None] = mapped_column(default=None)
    ends_at: Mapped[datetime | None] = mapped_column(default=None)
    cron: Mapped[str | None] = mapped_column(String(255), default=None)
    duration_minutes: Mapped[int | None] = mapped_column(default=None)
    # The IANA zone the cron expression is read in.
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # Its scope: the hosts of these environments, or of these host roles; neither: all.
    environments: Mapped[list[str] | None] = mapped_column(JSONDocument, default=None)
    host_role_ids: Mapped[list[int] | None] = mapped_column(JSONDocument, default=None)
