"""When an admin last cleared a user's failed-login limit: every server process keeps its
own count, and all of them read this.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import opsledger.db.types

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "users", sa.Column("login_unlocked_at", opsledger.db.types.UTCDateTime(), nullable=True)
    )


def downgrade() -> None:
    # Plain DROP COLUMN, as in 0007: a batch-mode copy of users is forbidden by its
    # dependants' foreign keys.
    op.drop_column("users", "login_unlocked_at")
