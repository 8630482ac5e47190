"""The audit chain's head row, locked by writers so concurrent appends cannot fork it.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import opsledger.db.types

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    chain = op.create_table(
        "audit_chain",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("head_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("head_hash", sa.String(length=64), nullable=True),
        sa.Column("anchor_hash", sa.String(length=64), nullable=True),
        sa.Column("updated_at", opsledger.db.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_audit_chain_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.bulk_insert(chain, [{"id": 1, "updated_at": datetime.now(UTC)}])


def downgrade() -> None:
    op.drop_table("audit_chain")
