"""A run groups the jobs of one launch across many hosts (seed 002's job stays one
playbook on one host); it holds what was launched and how, and how it ended."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from opsledger.db.base import Base, CreatedMixin, IdMixin, table_args
from opsledger.db.types import EncryptedString, JSONDocument
from opsledger.jobs.models import JobStatus
from opsledger.kit.enums import enum_column


class Run(IdMixin, CreatedMixin, Base):
    __tablename__ = "runs"
    __table_args__ = table_args(
        Index(None, "playbook_id"),
        Index(None, "user_id"),
        Index(None, "status", "created_at"),
        Index(None, "template_id"),
        # A run's previous outcome of its template (run.recovered).
        Index(None, "template_id", "id"),
    )

    uuid: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True, default=uuid.uuid4)
    # The template it was launched from (None: ad hoc, or the template is gone).
    template_id: Mapped[int | None] = mapped_column(
        ForeignKey("job_templates.id", ondelete="SET NULL"), default=None
    )
    playbook_id: Mapped[int] = mapped_column(ForeignKey("playbooks.id", ondelete="RESTRICT"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    status: Mapped[JobStatus] = mapped_column(
        enum_column(JobStatus, "run_status"), default=JobStatus.pending
    )
    # As launched: the selector, the resolved host ids in launch order, the options.
    selector: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    host_ids: Mapped[list[int]] = mapped_column(JSONDocument)
    options: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    # Secret prompt values shown as ******** here; their values are in secret_vars.
    extra_vars: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, default=None)
    # The secret prompts' values as a JSON object, encrypted: merged into the variables
    # only when a batch starts, and masked in every line the run prints.
    secret_vars: Mapped[str | None] = mapped_column(EncryptedString, default=None)
    batches: Mapped[int] = mapped_column(Integer)
    # Why it waits (hosts busy) or why it stopped (the failure threshold, a cancel).
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    # An admin's reason to launch it inside a freeze window, kept when it let the launch
    # through: a later batch that a window holds starts only with one.
    override_reason: Mapped[str | None] = mapped_column(Text, default=None)
    relaunch_of: Mapped[int | None] = mapped_column(
        ForeignKey("runs.id", ondelete="SET NULL"), default=None
    )
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)
