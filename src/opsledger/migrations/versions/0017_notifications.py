"""Notifications: channels (their URLs and signing secrets encrypted), the rules that route
events to them, the outbox of deliveries and every attempt to send one.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

import opsledger.db.types

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MYSQL: dict[str, Any] = {
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
    "mysql_engine": "InnoDB",
}
BIG_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True)


def _timestamps(*, updated: bool = True) -> list[sa.Column[Any]]:
    columns: list[sa.Column[Any]] = [
        sa.Column("created_at", opsledger.db.types.UTCDateTime(), nullable=False)
    ]
    if updated:
        columns.insert(0, sa.Column("updated_at", opsledger.db.types.UTCDateTime(), nullable=False))
    return columns


def upgrade() -> None:
    op.create_table(
        "notification_channels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("kind", _enum("notification_kind", "webhook", "slack", "email"), nullable=False),
        sa.Column("url", opsledger.db.types.EncryptedString(), nullable=True),
        sa.Column("recipients", opsledger.db.types.JSONDocument(), nullable=True),
        sa.Column("secret", opsledger.db.types.EncryptedString(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_channels")),
        sa.UniqueConstraint("name", name=op.f("uq_notification_channels_name")),
        **MYSQL,
    )
    op.create_table(
        "notification_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column(
            "min_priority",
            _enum("notification_min_priority", "low", "medium", "high", "critical"),
            nullable=True,
        ),
        sa.Column(
            "min_severity",
            _enum("notification_min_severity", "info", "warning", "critical"),
            nullable=True,
        ),
        sa.Column("environment", sa.String(length=50), nullable=True),
        sa.Column("template_id", sa.Integer(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["notification_channels.id"],
            name=op.f("fk_notification_rules_channel_id_notification_channels"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["job_templates.id"],
            name=op.f("fk_notification_rules_template_id_job_templates"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_rules")),
        **MYSQL,
    )
    op.create_index(op.f("ix_notification_rules_channel_id"), "notification_rules", ["channel_id"])
    op.create_index(
        op.f("ix_notification_rules_event_enabled"), "notification_rules", ["event", "enabled"]
    )
    op.create_index(
        op.f("ix_notification_rules_template_id"), "notification_rules", ["template_id"]
    )
    op.create_table(
        "notification_deliveries",
        sa.Column("id", BIG_KEY, nullable=False),
        sa.Column("uuid", sa.Uuid(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=True),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("payload", opsledger.db.types.JSONDocument(), nullable=False),
        sa.Column(
            "status",
            _enum("notification_delivery_status", "pending", "sending", "delivered", "dead"),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("tries_left", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", opsledger.db.types.UTCDateTime(), nullable=False),
        sa.Column("claimed_until", opsledger.db.types.UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("delivered_at", opsledger.db.types.UTCDateTime(), nullable=True),
        *_timestamps(updated=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["notification_channels.id"],
            name=op.f("fk_notification_deliveries_channel_id_notification_channels"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["notification_rules.id"],
            name=op.f("fk_notification_deliveries_rule_id_notification_rules"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_deliveries")),
        sa.UniqueConstraint("uuid", name=op.f("uq_notification_deliveries_uuid")),
        **MYSQL,
    )
    op.create_index(
        op.f("ix_notification_deliveries_channel_id_id"),
        "notification_deliveries",
        ["channel_id", "id"],
    )
    op.create_index(
        op.f("ix_notification_deliveries_rule_id"), "notification_deliveries", ["rule_id"]
    )
    op.create_index(
        op.f("ix_notification_deliveries_status_next_attempt_at"),
        "notification_deliveries",
        ["status", "next_attempt_at"],
    )
    op.create_table(
        "notification_attempts",
        sa.Column("id", BIG_KEY, nullable=False),
        sa.Column("delivery_id", BIG_KEY, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        *_timestamps(updated=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["notification_deliveries.id"],
            name=op.f("fk_notification_attempts_delivery_id_notification_deliveries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_attempts")),
        **MYSQL,
    )
    op.create_index(
        op.f("ix_notification_attempts_delivery_id_id"),
        "notification_attempts",
        ["delivery_id", "id"],
    )


def downgrade() -> None:
    # Each table's indexes go with it (MariaDB refuses to drop one a foreign key uses).
    for table in (
        "notification_attempts",
        "notification_deliveries",
        "notification_rules",
        "notification_channels",
    ):
        op.drop_table(table)
