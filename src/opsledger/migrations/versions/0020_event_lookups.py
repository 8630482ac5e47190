"""What the notification events need: a job stopped by its time limit (job.timed_out,
run.timed_out), when a ticket's lapse was told (ticket.overdue), and the indexes that
find a job's or a run's previous outcome (job.recovered, run.recovered).

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import opsledger.db.types

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "jobs", sa.Column("timed_out", sa.Boolean(), server_default=sa.false(), nullable=False)
    )
    op.add_column(
        "tickets",
        sa.Column("overdue_notified_at", opsledger.db.types.UTCDateTime(), nullable=True),
    )
    op.create_index(
        op.f("ix_jobs_host_id_playbook_id_id"), "jobs", ["host_id", "playbook_id", "id"]
    )
    op.create_index(op.f("ix_runs_template_id_id"), "runs", ["template_id", "id"])
    op.create_index(
        op.f("ix_tickets_overdue_notified_at_due_at"),
        "tickets",
        ["overdue_notified_at", "due_at"],
    )


def downgrade() -> None:
    # Plain ALTER TABLE … DROP COLUMN (SQLite 3.35+), as 0003 explains.
    op.drop_index(op.f("ix_tickets_overdue_notified_at_due_at"), table_name="tickets")
    op.drop_index(op.f("ix_runs_template_id_id"), table_name="runs")
    op.drop_index(op.f("ix_jobs_host_id_playbook_id_id"), table_name="jobs")
    op.drop_column("tickets", "overdue_notified_at")
    op.drop_column("jobs", "timed_out")
