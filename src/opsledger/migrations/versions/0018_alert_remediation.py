"""Alert remediation: a trigger may name the alert labels it remediates, and an alert
records the run its remediation launched and what came of it.

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import opsledger.db.types

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "triggers", sa.Column("alert_matchers", opsledger.db.types.JSONDocument(), nullable=True)
    )
    # On SQLite the table is copied (nothing refers to it): a reference added within ADD
    # COLUMN, as in 0014, would keep its ON DELETE but be read back without it.
    with op.batch_alter_table("monitoring_alerts") as batch:
        batch.add_column(sa.Column("remediation_run_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("remediation", sa.Text(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_monitoring_alerts_remediation_run_id_runs"),
            "runs",
            ["remediation_run_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch.create_index(op.f("ix_monitoring_alerts_remediation_run_id"), ["remediation_run_id"])


def downgrade() -> None:
    with op.batch_alter_table("monitoring_alerts") as batch:
        # The key first: MariaDB will not drop the index a foreign key uses.
        batch.drop_constraint(
            op.f("fk_monitoring_alerts_remediation_run_id_runs"), type_="foreignkey"
        )
        batch.drop_index(op.f("ix_monitoring_alerts_remediation_run_id"))
        batch.drop_column("remediation")
        batch.drop_column("remediation_run_id")
    op.drop_column("triggers", "alert_matchers")
