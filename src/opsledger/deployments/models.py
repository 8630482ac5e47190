"""Deployments, their replicas, their resource allocation and their status history."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    CheckConstraint,
    Computed,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from opsledger.db.base import (
    Base,
    IdMixin,
    SoftDeleteMixin,
    TimestampMixin,
    table_args,
    utcnow,
)
from opsledger.kit.enums import enum_column


class DeploymentStatus(StrEnum):
    pending = "pending"
    scheduled = "scheduled"
    running = "running"
    stopped = "stopped"
    failed = "failed"
    deleted = "deleted"


class ReplicaStatus(StrEnum):
    pending = "pending"
    starting = "starting"
    running = "running"
    stopping = "stopping"
    stopped = "stopped"
    failed = "failed"


class Deployment(IdMixin, TimestampMixin, SoftDeleteMixin, Base):
    __tablename__ = "deployments"
    # live_name is computed by the database: read it back after every write.
    __mapper_args__ = {"eager_defaults": True}  # noqa: RUF012 - declarative reads it once
    __table_args__ = table_args(
        Index(None, "user_id", "deleted_at"),
        Index(None, "status"),
        Index(None, "application_id"),
        Index(None, "infrastructure_id"),
        # A name is unique per user among live deployments. ``live_name`` is NULL once
        # deleted, and NULLs never collide: one rule on SQLite, PostgreSQL and MySQL,
        # which has no partial indexes.
        UniqueConstraint("user_id", "live_name"),
    )

    uuid: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True, default=uuid.uuid4)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    application_id: Mapped[int | None] = mapped_column(
        ForeignKey("applications.id", ondelete="RESTRICT"), default=None
    )
    infrastructure_id: Mapped[int | None] = mapped_column(
        ForeignKey("infrastructure.id", ondelete="RESTRICT"), default=None
    )
    name: Mapped[str] = mapped_column(String(100))
    live_name: Mapped[str | None] = mapped_column(
        String(100), Computed("CASE WHEN deleted_at IS NULL THEN name END", persisted=True)
    )
    image: Mapped[str] = mapped_column(String(500))
    version: Mapped[str | None] = mapped_column(String(100), default=None)
    status: Mapped[DeploymentStatus] = mapped_column(
        enum_column(DeploymentStatus, "deployment_status"), default=DeploymentStatus.pending
    )
    target_replicas: Mapped[int] = mapped_column(Integer)

    replicas: Mapped[list[DeploymentReplica]] = relationship(
        back_populates="deployment", lazy="raise", passive_deletes=True
    )
    resources: Mapped[DeploymentResource | None] = relationship(
        back_populates="deployment", lazy="raise", passive_deletes=True
    )
    status_history: Mapped[list[DeploymentStatusHistory]] = relationship(
        back_populates="deployment",
        lazy="raise",
        passive_deletes=True,
        order_by="DeploymentStatusHistory.id",
    )


class DeploymentReplica(IdMixin, TimestampMixin, Base):
    __tablename__ = "deployment_replicas"
    __table_args__ = table_args(Index(None, "deployment_id", "status"), Index(None, "host_id"))

    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"))
    host_id: Mapped[int | None] = mapped_column(
        ForeignKey("hosts.id", ondelete="SET NULL"), default=None
    )
    container_id: Mapped[str | None] = mapped_column(String(255), default=None)
    status: Mapped[ReplicaStatus] = mapped_column(
        enum_column(ReplicaStatus, "replica_status"), default=ReplicaStatus.pending
    )
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    stopped_at: Mapped[datetime | None] = mapped_column(default=None)

    deployment: Mapped[Deployment] = relationship(back_populates="replicas", lazy="raise")


class DeploymentResource(IdMixin, TimestampMixin, Base):
    """The resource bounds are enforced by the database too, not only by request validation."""

    __tablename__ = "deployment_resources"
    __table_args__ = table_args(
        CheckConstraint("cpu_cores >= 0.5 AND cpu_cores <= 32", name="cpu_cores_range"),
        CheckConstraint("memory_mb >= 512 AND memory_mb <= 65536", name="memory_mb_range"),
        CheckConstraint("gpu_units >= 0 AND gpu_units <= 8", name="gpu_units_range"),
        CheckConstraint("storage_gb >= 1 AND storage_gb <= 1000", name="storage_gb_range"),
    )

    deployment_id: Mapped[int] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE"), unique=True
    )
    cpu_cores: Mapped[float] = mapped_column(Float)
    memory_mb: Mapped[int] = mapped_column(Integer)
    gpu_units: Mapped[int] = mapped_column(Integer, default=0)
    storage_gb: Mapped[int] = mapped_column(Integer)

    deployment: Mapped[Deployment] = relationship(back_populates="resources", lazy="raise")


class DeploymentStatusHistory(IdMixin, Base):
    """Append-only: one row per status change, written with the change."""

    __tablename__ = "deployment_status_history"
    __table_args__ = table_args(
        Index(None, "deployment_id", "changed_at"), Index(None, "changed_by")
    )

    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"))
    from_status: Mapped[DeploymentStatus | None] = mapped_column(
        enum_column(DeploymentStatus, "from_status"), default=None
    )
    to_status: Mapped[DeploymentStatus] = mapped_column(enum_column(DeploymentStatus, "to_status"))
    changed_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)

    deployment: Mapped[Deployment] = relationship(back_populates="status_history", lazy="raise")
