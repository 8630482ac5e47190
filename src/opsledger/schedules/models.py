"""A schedule: a job template, the values to launch it with, and when (a cron expression
in a time zone, or once); and its fires, each the run it made or why it made none."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from opsledger.db.base import Base, BigIntegerKey, CreatedMixin, IdMixin, TimestampMixin, table_args
from opsledger.db.types import EncryptedString, JSONDocument
from opsledger.kit.enums import enum_column


class MissedPolicy(StrEnum):
    """What a schedule does about the times it missed while no server was up."""

    skip = "skip"  # record the skip, run at the next regular time
    run_once = "run_once"  # one catch-up run now, however many times were missed


class OverlapPolicy(StrEnum):
    """What a due time does while the schedule's previous run has not ended."""

    skip = "skip"  # record the skip
    queue = "queue"  # wait for it to end, at most one waiting
    allow = "allow"  # run beside it


class FireOutcome(StrEnum):
    launched = "launched"
    queued = "queued"
    skipped = "skipped"
    failed = "failed"  # the launch was refused (no host matched, a prompt no longer valid)


class Schedule(IdMixin, TimestampMixin, Base):
    __tablename__ = "schedules"
    __table_args__ = table_args(
        Index(None, "enabled", "next_run_at"),
        Index(None, "template_id"),
        Index(None, "user_id"),
        CheckConstraint("(cron IS NULL) <> (run_at IS NULL)", name="cron_or_run_at"),
    )

    name: Mapped[str] = mapped_column(String(255), unique=True)
    # A template stays while a schedule launches it.
    template_id: Mapped[int] = mapped_column(ForeignKey("job_templates.id", ondelete="RESTRICT"))
    # Whose runs its fires are: the user who made it, unless an admin named another.
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    # What each fire adds to the template (templates.schemas.TemplateLaunch): variables,
    # check/diff/verbosity and limit_host_ids as ``launch``, prompt values as ``prompts``
    # but for the secret ones, which are in ``secret_prompts`` (a JSON object, encrypted).
    launch: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    prompts: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, default=None)
    secret_prompts: Mapped[str | None] = mapped_column(EncryptedString, default=None)
    cron: Mapped[str | None] = mapped_column(String(255), default=None)
    run_at: Mapped[datetime | None] = mapped_column(default=None)
    # The IANA zone the cron expression is read in.
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    enabled: Mapped[bool] = mapped_column(default=True)
    ends_at: Mapped[datetime | None] = mapped_column(default=None)
    missed: Mapped[MissedPolicy] = mapped_column(
        enum_column(MissedPolicy, "schedule_missed"), default=MissedPolicy.skip
    )
    overlap: Mapped[OverlapPolicy] = mapped_column(
        enum_column(OverlapPolicy, "schedule_overlap"), default=OverlapPolicy.skip
    )
    # The next due time (UTC); None once no time is left (a one-off fired, the end passed).
    # Firing moves it by compare-and-set, so each due time fires once.
    next_run_at: Mapped[datetime | None] = mapped_column(default=None)
    # A due time held back while the previous run goes on (overlap ``queue``).
    queued_at: Mapped[datetime | None] = mapped_column(default=None)
    last_run_at: Mapped[datetime | None] = mapped_column(default=None)
    last_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("runs.id", ondelete="SET NULL"), default=None
    )


class ScheduleFire(CreatedMixin, Base):
    """One due time of a schedule and what came of it (append-only)."""

    __tablename__ = "schedule_fires"
    __table_args__ = table_args(Index(None, "schedule_id", "id"), Index(None, "run_id"))

    id: Mapped[int] = mapped_column(BigIntegerKey, primary_key=True, sort_order=-10)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("schedules.id", ondelete="CASCADE"))
    due_at: Mapped[datetime]
    outcome: Mapped[FireOutcome] = mapped_column(enum_column(FireOutcome, "schedule_fire_outcome"))
    run_id: Mapped[int | None] = mapped_column(
        ForeignKey("runs.id", ondelete="SET NULL"), default=None
    )
    reason: Mapped[str | None] = mapped_column(Text, default=None)
