"""When a job's Celery task reached the broker: a pending job still without it (the
broker was down when it was created) is sent again by the reaper.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import opsledger.db.types

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "jobs", sa.Column("dispatched_at", opsledger.db.types.UTCDateTime(), nullable=True)
    )


def downgrade() -> None:
    # Plain DROP COLUMN, as in 0003: a batch-mode copy of jobs is forbidden by its
    # dependants' foreign keys.
    op.drop_column("jobs", "dispatched_at")
