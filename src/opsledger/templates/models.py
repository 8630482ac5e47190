"""A job template: what to run, on which hosts, and how, saved to be launched again."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from opsledger.db.base import Base, IdMixin, TimestampMixin, table_args
from opsledger.db.types import JSONDocument

if TYPE_CHECKING:
    from opsledger.playbooks.models import Playbook


class JobTemplate(IdMixin, TimestampMixin, Base):
    __tablename__ = "job_templates"
    __table_args__ = table_args(
        Index(None, "playbook_id"),
        CheckConstraint("verbosity >= 0 AND verbosity <= 4", name="verbosity_range"),
        CheckConstraint("forks >= 1 AND forks <= 50", name="forks_range"),
        CheckConstraint("timeout_seconds >= 1", name="timeout_seconds_positive"),
        CheckConstraint("batch_size >= 1", name="batch_size_positive"),
        CheckConstraint(
            "max_fail_percentage >= 0 AND max_fail_percentage <= 100",
            name="max_fail_percentage_range",
        ),
    )

    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    # A playbook stays while a template names it, as it does while a job does.
    playbook_id: Mapped[int] = mapped_column(ForeignKey("playbooks.id", ondelete="RESTRICT"))
    # hosts.schemas.HostSelector as data: ids in it are not foreign keys, so a host or
    # role deleted later makes the selector match less, never more.
    selector: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    extra_vars: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, default=None)
    # CHECK is a reserved word in SQL: the column is named so that raw SQL needs no quoting.
    check: Mapped[bool] = mapped_column("check_mode", default=False)
    diff: Mapped[bool] = mapped_column(default=False)
    verbosity: Mapped[int] = mapped_column(Integer, default=0)
    job_tags: Mapped[list[str] | None] = mapped_column(JSONDocument, default=None)
    skip_tags: Mapped[list[str] | None] = mapped_column(JSONDocument, default=None)
    forks: Mapped[int] = mapped_column(Integer, default=5)
    timeout_seconds: Mapped[int | None] = mapped_column(Integer, default=None)
    batch_size: Mapped[int | None] = mapped_column(Integer, default=None)
    max_fail_percentage: Mapped[int] = mapped_column(Integer, default=0)
    # templates.prompts.Prompt definitions, in order.
    prompts: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONDocument, default=None)

    playbook: Mapped[Playbook] = relationship(lazy="raise")
