"""Schedules: a job template launched on a cron expression in a time zone, or once, its
secret prompt values encrypted; and the history of its fires and skips.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

import opsledger.db.types

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MYSQL: dict[str, Any] = {
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
    "mysql_engine": "InnoDB",
}


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True)


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("template_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("launch", opsledger.db.types.JSONDocument(), nullable=False),
        sa.Column("prompts", opsledger.db.types.JSONDocument(), nullable=True),
        sa.Column("secret_prompts", opsledger.db.types.EncryptedString(), nullable=True),
        sa.Column("cron", sa.String(length=255), nullable=True),
        sa.Column("run_at", opsledger.db.types.UTCDateTime(), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("ends_at", opsledger.db.types.UTCDateTime(), nullable=True),
        sa.Column("missed", _enum("schedule_missed", "skip", "run_once"), nullable=False),
        sa.Column("overlap", _enum("schedule_overlap", "skip", "queue", "allow"), nullable=False),
        sa.Column("next_run_at", opsledger.db.types.UTCDateTime(), nullable=True),
        sa.Column("queued_at", opsledger.db.types.UTCDateTime(), nullable=True),
        sa.Column("last_run_at", opsledger.db.types.UTCDateTime(), nullable=True),
        sa.Column("last_run_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", opsledger.db.types.UTCDateTime(), nullable=False),
        sa.Column("created_at", opsledger.db.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "(cron IS NULL) <> (run_at IS NULL)", name=op.f("ck_schedules_cron_or_run_at")
        ),
        sa.ForeignKeyConstraint(
            ["last_run_id"],
            ["runs.id"],
            name=op.f("fk_schedules_last_run_id_runs"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["job_templates.id"],
            name=op.f("fk_schedules_template_id_job_templates"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_schedules_user_id_users"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedules")),
        sa.UniqueConstraint("name", name=op.f("uq_schedules_name")),
        **MYSQL,
    )
    op.create_index(
        op.f("ix_schedules_enabled_next_run_at"), "schedules", ["enabled", "next_run_at"]
    )
    op.create_index(op.f("ix_schedules_template_id"), "schedules", ["template_id"])
    op.create_index(op.f("ix_schedules_user_id"), "schedules", ["user_id"])
    op.create_table(
        "schedule_fires",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("schedule_id", sa.Integer(), nullable=False),
        sa.Column("due_at", opsledger.db.types.UTCDateTime(), nullable=False),
        sa.Column(
            "outcome",
            _enum("schedule_fire_outcome", "launched", "queued", "skipped", "failed"),
            nullable=False,
        ),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", opsledger.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_schedule_fires_run_id_runs"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["schedules.id"],
            name=op.f("fk_schedule_fires_schedule_id_schedules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule_fires")),
        **MYSQL,
    )
    op.create_index(op.f("ix_schedule_fires_run_id"), "schedule_fires", ["run_id"])
    op.create_index(
        op.f("ix_schedule_fires_schedule_id_id"), "schedule_fires", ["schedule_id", "id"]
    )


def downgrade() -> None:
    op.drop_table("schedule_fires")
    op.drop_table("schedules")
