"""Freeze windows: periods, once or recurring, during which no launch starts on the hosts
they hold unless an admin overrides them; triggers: signed webhooks that launch a job
template, their secrets encrypted, and the record of every delivery.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

import opsledger.db.types

revision: str = "0016"
down_revision: str | None = "0015"
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
        "freeze_windows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("starts_at", opsledger.db.types.UTCDateTime(), nullable=True),
        sa.Column("ends_at", opsledger.db.types.UTCDateTime(), nullable=True),
        sa.Column("cron", sa.String(length=255), nullable=True),
        sa.Column("duration_minutes", sa.Integer(), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("environments", opsledger.db.types.JSONDocument(), nullable=True),
        sa.Column("host_role_ids", opsledger.db.types.JSONDocument(), nullable=True),
        sa.Column("updated_at", opsledger.db.types.UTCDateTime(), nullable=False),
        sa.Column("created_at", opsledger.db.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "(cron IS NULL) = (duration_minutes IS NULL)",
            name=op.f("ck_freeze_windows_cron_has_duration"),
        ),
        sa.CheckConstraint(
            "(cron IS NULL) <> (starts_at IS NULL)",
            name=op.f("ck_freeze_windows_once_or_recurring"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_freeze_windows")),
        sa.UniqueConstraint("name", name=op.f("uq_freeze_windows_name")),
        **MYSQL,
    )
    op.create_table(
        "triggers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("template_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("secret", opsledger.db.types.EncryptedString(), nullable=False),
        sa.Column("prompts", opsledger.db.types.JSONDocument(), nullable=False),
        sa.Column("rate_per_minute", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_at", opsledger.db.types.UTCDateTime(), nullable=False),
        sa.Column("created_at", opsledger.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["job_templates.id"],
            name=op.f("fk_triggers_template_id_job_templates"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_triggers_user_id_users"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_triggers")),
        sa.UniqueConstraint("name", name=op.f("uq_triggers_name")),
        **MYSQL,
    )
    op.create_index(op.f("ix_triggers_template_id"), "triggers", ["template_id"])
    op.create_index(op.f("ix_triggers_user_id"), "triggers", ["user_id"])
    op.create_table(
        "trigger_deliveries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("trigger_id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.String(length=100), nullable=True),
        sa.Column("launched_delivery", sa.String(length=100), nullable=True),
        sa.Column(
            "outcome",
            _enum("trigger_delivery_outcome", "launched", "duplicate", "refused"),
            nullable=False,
        ),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("body_bytes", sa.Integer(), nullable=False),
        sa.Column("body_sha256", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("created_at", opsledger.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.id"],
            name=op.f("fk_trigger_deliveries_run_id_runs"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["trigger_id"],
            ["triggers.id"],
            name=op.f("fk_trigger_deliveries_trigger_id_triggers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trigger_deliveries")),
        sa.UniqueConstraint(
            "trigger_id",
            "launched_delivery",
            name=op.f("uq_trigger_deliveries_trigger_id_launched_delivery"),
        ),
        **MYSQL,
    )
    op.create_index(op.f("ix_trigger_deliveries_run_id"), "trigger_deliveries", ["run_id"])
    op.create_index(
        op.f("ix_trigger_deliveries_trigger_id_created_at"),
        "trigger_deliveries",
        ["trigger_id", "created_at"],
    )


def downgrade() -> None:
    op.drop_table("trigger_deliveries")
    op.drop_table("triggers")
    op.drop_table("freeze_windows")
