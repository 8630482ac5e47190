"""What the job runner needs: a heartbeat per running job, and which jobs provision
their host.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import opsledger.db.types

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "jobs",
        sa.Column("provisions_host", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.add_column(
        "jobs", sa.Column("heartbeat_at", opsledger.db.types.UTCDateTime(), nullable=True)
    )


def downgrade() -> None:
    # Plain ALTER TABLE … DROP COLUMN (SQLite 3.35+): a batch-mode table copy would drop
    # and recreate jobs, which the foreign keys of job_logs and tickets forbid.
    op.drop_column("jobs", "heartbeat_at")
    op.drop_column("jobs", "provisions_host")
