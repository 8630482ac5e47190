"""Job templates: a saved launch of a playbook on the hosts a selector matches.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import opsledger.db.types

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "job_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("playbook_id", sa.Integer(), nullable=False),
        sa.Column("selector", opsledger.db.types.JSONDocument(), nullable=False),
        sa.Column("extra_vars", opsledger.db.types.JSONDocument(), nullable=True),
        sa.Column("check_mode", sa.Boolean(), nullable=False),
        sa.Column("diff", sa.Boolean(), nullable=False),
        sa.Column("verbosity", sa.Integer(), nullable=False),
        sa.Column("job_tags", opsledger.db.types.JSONDocument(), nullable=True),
        sa.Column("skip_tags", opsledger.db.types.JSONDocument(), nullable=True),
        sa.Column("forks", sa.Integer(), nullable=False),
        sa.Column("timeout_seconds", sa.Integer(), nullable=True),
        sa.Column("batch_size", sa.Integer(), nullable=True),
        sa.Column("max_fail_percentage", sa.Integer(), nullable=False),
        sa.Column("prompts", opsledger.db.types.JSONDocument(), nullable=True),
        sa.Column("updated_at", opsledger.db.types.UTCDateTime(), nullable=False),
        sa.Column("created_at", opsledger.db.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint("batch_size >= 1", name=op.f("ck_job_templates_batch_size_positive")),
        sa.CheckConstraint("forks >= 1 AND forks <= 50", name=op.f("ck_job_templates_forks_range")),
        sa.CheckConstraint(
            "max_fail_percentage >= 0 AND max_fail_percentage <= 100",
            name=op.f("ck_job_templates_max_fail_percentage_range"),
        ),
        sa.CheckConstraint(
            "timeout_seconds >= 1", name=op.f("ck_job_templates_timeout_seconds_positive")
        ),
        sa.CheckConstraint(
            "verbosity >= 0 AND verbosity <= 4", name=op.f("ck_job_templates_verbosity_range")
        ),
        sa.ForeignKeyConstraint(
            ["playbook_id"],
            ["playbooks.id"],
            name=op.f("fk_job_templates_playbook_id_playbooks"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_templates")),
        sa.UniqueConstraint("name", name=op.f("uq_job_templates_name")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_index(op.f("ix_job_templates_playbook_id"), "job_templates", ["playbook_id"])


def downgrade() -> None:
    # The index goes with its table (MySQL/MariaDB refuse to drop it alone while the
    # foreign key needs it).
    op.drop_table("job_templates")
