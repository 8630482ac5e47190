"""Jobs (one playbook run on one host) and their log lines, the highest-volume tables in
opsledger."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from opsledger.db.base import Base, BigIntegerKey, CreatedMixin, IdMixin, table_args, utcnow
from opsledger.db.types import JSONDocument, LongText
from opsledger.kit.enums import enum_column

if TYPE_CHECKING:
    from opsledger.hosts.models import Host
    from opsledger.playbooks.models import Playbook
    from opsledger.runs.models import Run
    from opsledger.users.models import User


class JobStatus(StrEnum):
    pending = "pending"
    running = "running"
    success = "success"
    failed = "failed"
    cancelled = "cancelled"


class Job(IdMixin, CreatedMixin, Base):
    __tablename__ = "jobs"
    __table_args__ = table_args(
        Index(None, "playbook_id"),
        Index(None, "host_id"),
        Index(None, "user_id"),
        Index(None, "status"),
        Index(None, "celery_task_id"),
        Index(None, "created_at"),
        Index(None, "status", "created_at"),
        Index(None, "user_id", "status"),
        Index(None, "run_id", "batch"),
        # A job's previous outcome on its host (job.recovered).
        Index(None, "host_id", "playbook_id", "id"),
    )

    uuid: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True, default=uuid.uuid4)
    playbook_id: Mapped[int] = mapped_column(ForeignKey("playbooks.id", ondelete="RESTRICT"))
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id", ondelete="RESTRICT"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    status: Mapped[JobStatus] = mapped_column(
        enum_column(JobStatus, "job_status"), default=JobStatus.pending
    )
    celery_task_id: Mapped[str | None] = mapped_column(String(255), default=None)
    # When the task reached the broker (Celery); the reaper sends a pending job's task
    # again while this is empty (the broker could not be reached at the time).
    dispatched_at: Mapped[datetime | None] = mapped_column(default=None)
    extra_vars: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, default=None)
    error_message: Mapped[str | None] = mapped_column(Text, default=None)
    # Set by POST /hosts/{id}/provision: the outcome moves the host to deployed or failed.
    provisions_host: Mapped[bool] = mapped_column(default=False, server_default=false())
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    # Written by the running worker every few seconds; the reaper fails running jobs
    # whose heartbeat stopped (their worker died).
    heartbeat_at: Mapped[datetime | None] = mapped_column(default=None)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)
    # It failed because its time limit (the template's, or OPSLEDGER_JOB_TIMEOUT_SECONDS)
    # stopped it: its event is job.timed_out (run.timed_out for a run's).
    timed_out: Mapped[bool] = mapped_column(default=False, server_default=false())
    # A job of a run (a launch across many hosts) runs with the rest of its batch, in one
    # ansible-runner process; a job without a run is a batch of its own.
    # NO ACTION (as good as RESTRICT here): SQLite keeps no ON DELETE that reflection
    # reads back for a column added later.
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"), default=None)
    batch: Mapped[int | None] = mapped_column(Integer, default=None)
    # Why a pending job has not started: its host is busy with another job.
    waiting_reason: Mapped[str | None] = mapped_column(String(500), default=None)
    # Ansible's play recap for the host, once the job ended.
    ok: Mapped[int | None] = mapped_column(Integer, default=None)
    changed: Mapped[int | None] = mapped_column(Integer, default=None)
    failures: Mapped[int | None] = mapped_column(Integer, default=None)
    unreachable: Mapped[int | None] = mapped_column(Integer, default=None)
    skipped: Mapped[int | None] = mapped_column(Integer, default=None)
    rescued: Mapped[int | None] = mapped_column(Integer, default=None)
    ignored: Mapped[int | None] = mapped_column(Integer, default=None)

    playbook: Mapped[Playbook] = relationship(lazy="raise")
    host: Mapped[Host] = relationship(lazy="raise")
    user: Mapped[User] = relationship(lazy="raise")
    run: Mapped[Run | None] = relationship(lazy="raise")


# The name the naming convention gives the (job_id, line_number, job_created) key.
LINES_INDEX = "uq_job_logs_job_id_line_number_job_created"


class JobLog(Base):
    """One output line. ``job_created`` copies the job's ``created_at`` so that on
    PostgreSQL all lines of a job fall into one monthly partition (as AWX does)."""

    __tablename__ = "job_logs"
    __table_args__ = table_args(
        UniqueConstraint("job_id", "line_number", "job_created"),
        Index(None, "timestamp"),
    )

    id: Mapped[int] = mapped_column(BigIntegerKey, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    job_created: Mapped[datetime]
    line_number: Mapped[int] = mapped_column(Integer)
    content: Mapped[str] = mapped_column(LongText)
    log_level: Mapped[str | None] = mapped_column(String(20), default=None)
    timestamp: Mapped[datetime] = mapped_column(default=utcnow)


class JobTask(Base):
    """One task's result on the job's host: the rows of a run's task-by-host matrix."""

    __tablename__ = "job_tasks"
    __table_args__ = table_args(UniqueConstraint("job_id", "position"))

    id: Mapped[int] = mapped_column(BigIntegerKey, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    # The task's place in the run (0, 1, …), the same for every host of a batch.
    position: Mapped[int] = mapped_column(Integer)
    task: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20))
    changed: Mapped[bool] = mapped_column(Boolean, default=False)
    duration_ms: Mapped[int | None] = mapped_column(Integer, default=None)

    job: Mapped[Job] = relationship(lazy="raise")


class HostLock(Base):
    """A host held by the running job that holds it: one playbook per host at a time,
    whichever path launched it. A job's batch takes the locks of all its hosts in the
    transaction that starts it (the primary key makes a second taker fail), and its end
    gives them back."""

    __tablename__ = "host_locks"
    __table_args__ = table_args(Index(None, "job_id"))

    host_id: Mapped[int] = mapped_column(
        ForeignKey("hosts.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    locked_at: Mapped[datetime] = mapped_column(default=utcnow)
