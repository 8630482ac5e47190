"""On PostgreSQL, job_logs becomes range-partitioned by month of job_created, so that
retention drops whole months instead of deleting rows (see ops/partitions.py). Existing
lines are copied into partitions covering their months; ids continue from the same
sequence. SQLite and MariaDB keep the plain table.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from opsledger.migrations.rebuild import Rebuild
from opsledger.ops.partitions import JOB_LOGS

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REBUILD = Rebuild(
    table="job_logs",
    columns="id, job_id, job_created, line_number, content, log_level, timestamp",
    constraints={
        "pk": "pk_job_logs",
        "uq": "uq_job_logs_job_id_line_number_job_created",
        "fk": "fk_job_logs_job_id_jobs",
    },
    finish=["CREATE INDEX ix_job_logs_timestamp ON job_logs (timestamp)"],
)


def _table_sql(name: str, key: str, partitioned: bool) -> str:
    return f"""
        CREATE TABLE {name} (
            id BIGINT NOT NULL DEFAULT nextval('job_logs_id_seq'),
            job_id INTEGER NOT NULL,
            job_created TIMESTAMP WITH TIME ZONE NOT NULL,
            line_number INTEGER NOT NULL,
            content VARCHAR NOT NULL,
            log_level VARCHAR(20),
            timestamp TIMESTAMP WITH TIME ZONE NOT NULL,
            CONSTRAINT {name}_pk PRIMARY KEY ({key}),
            CONSTRAINT {name}_uq UNIQUE (job_id, line_number, job_created),
            CONSTRAINT {name}_fk FOREIGN KEY (job_id) REFERENCES jobs (id) ON DELETE CASCADE
        ) {"PARTITION BY RANGE (job_created)" if partitioned else ""}
    """


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        REBUILD.into_months(
            JOB_LOGS, "job_logs_next", _table_sql("job_logs_next", "id, job_created", True)
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    REBUILD.run("job_logs_plain", _table_sql("job_logs_plain", "id", False))
