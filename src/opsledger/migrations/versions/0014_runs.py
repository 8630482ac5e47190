"""Runs: one launch across many hosts (ad hoc or from a template, its secret prompts'
values encrypted), a job per host in batches; each host's play recap and task results;
and the lock that keeps two playbooks off one host.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

import opsledger.db.types

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MYSQL: dict[str, Any] = {
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
    "mysql_engine": "InnoDB",
}
RECAP = ("ok", "changed", "failures", "unreachable", "skipped", "rescued", "ignored")
STATUSES = ("pending", "running", "success", "failed", "cancelled")


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.Uuid(), nullable=False),
        sa.Column("template_id", sa.Integer(), nullable=True),
        sa.Column("playbook_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(*STATUSES, name="run_status", native_enum=False, create_constraint=True),
            nullable=False,
        ),
        sa.Column("selector", opsledger.db.types.JSONDocument(), nullable=False),
        sa.Column("host_ids", opsledger.db.types.JSONDocument(), nullable=False),
        sa.Column("options", opsledger.db.types.JSONDocument(), nullable=False),
        sa.Column("extra_vars", opsledger.db.types.JSONDocument(), nullable=True),
        sa.Column("secret_vars", opsledger.db.types.EncryptedString(), nullable=True),
        sa.Column("batches", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("relaunch_of", sa.Integer(), nullable=True),
        sa.Column("started_at", opsledger.db.types.UTCDateTime(), nullable=True),
        sa.Column("completed_at", opsledger.db.types.UTCDateTime(), nullable=True),
        sa.Column("created_at", opsledger.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["playbook_id"],
            ["playbooks.id"],
            name=op.f("fk_runs_playbook_id_playbooks"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["job_templates.id"],
            name=op.f("fk_runs_template_id_job_templates"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["relaunch_of"],
            ["runs.id"],
            name=op.f("fk_runs_relaunch_of_runs"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_runs_user_id_users"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
        sa.UniqueConstraint("uuid", name=op.f("uq_runs_uuid")),
        **MYSQL,
    )
    op.create_index(op.f("ix_runs_playbook_id"), "runs", ["playbook_id"])
    op.create_index(op.f("ix_runs_status_created_at"), "runs", ["status", "created_at"])
    op.create_index(op.f("ix_runs_user_id"), "runs", ["user_id"])
    op.create_index(op.f("ix_runs_template_id"), "runs", ["template_id"])

    # Plain ADD COLUMN: a batch-mode copy of jobs is forbidden by its dependants' foreign
    # keys, as in 0003; SQLite takes the reference only within ADD COLUMN.
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "ALTER TABLE jobs ADD COLUMN run_id INTEGER "
            "CONSTRAINT fk_jobs_run_id_runs REFERENCES runs (id)"
        )
    else:
        op.add_column("jobs", sa.Column("run_id", sa.Integer(), nullable=True))
        op.create_foreign_key(op.f("fk_jobs_run_id_runs"), "jobs", "runs", ["run_id"], ["id"])
    op.add_column("jobs", sa.Column("batch", sa.Integer(), nullable=True))
    op.add_column("jobs", sa.Column("waiting_reason", sa.String(length=500), nullable=True))
    for name in RECAP:
        op.add_column("jobs", sa.Column(name, sa.Integer(), nullable=True))
    op.create_index(op.f("ix_jobs_run_id_batch"), "jobs", ["run_id", "batch"])

    op.create_table(
        "job_tasks",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("task", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("changed", sa.Boolean(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_job_tasks_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_tasks")),
        sa.UniqueConstraint("job_id", "position", name=op.f("uq_job_tasks_job_id_position")),
        **MYSQL,
    )
    op.create_table(
        "host_locks",
        sa.Column("host_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("locked_at", opsledger.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["host_id"],
            ["hosts.id"],
            name=op.f("fk_host_locks_host_id_hosts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_host_locks_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("host_id", name=op.f("pk_host_locks")),
        **MYSQL,
    )
    op.create_index(op.f("ix_host_locks_job_id"), "host_locks", ["job_id"])


def downgrade() -> None:
    op.drop_table("host_locks")
    op.drop_table("job_tasks")
    if op.get_bind().dialect.name != "sqlite":  # SQLite drops it with its column
        op.drop_constraint(op.f("fk_jobs_run_id_runs"), "jobs", type_="foreignkey")
    op.drop_index(op.f("ix_jobs_run_id_batch"), table_name="jobs")
    for name in (*reversed(RECAP), "waiting_reason", "batch", "run_id"):
        op.drop_column("jobs", name)
    op.drop_table("runs")
