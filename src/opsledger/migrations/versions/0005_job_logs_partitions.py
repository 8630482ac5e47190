"""On PostgreSQL, job_logs becomes range-partitioned by month of job_created, so that
retention drops whole months instead of deleting rows (see ops/partitions.py). Existing
lines are copied into partitions covering their months; ids continue from the same
sequence. SQLite and MariaDB keep the plain table.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from opsledger.ops.partitions import MONTHS_AHEAD, create_sql, month_start, next_month

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = "id, job_id, job_created, line_number, content, log_level, timestamp"
UNIQUE = "uq_job_logs_job_id_line_number_job_created"


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


def _replace(name: str, key: str, partitioned: bool, partitions: Sequence[str] = ()) -> None:
    """Build the new job_logs as ``name``, copy every line, and swap it in."""
    op.execute("ALTER SEQUENCE job_logs_id_seq OWNED BY NONE")
    op.execute(_table_sql(name, key, partitioned))
    for statement in partitions:
        op.execute(statement)
    op.execute(f"INSERT INTO {name} ({COLUMNS}) SELECT {COLUMNS} FROM job_logs")  # noqa: S608
    op.execute("DROP TABLE job_logs")
    op.execute(f"ALTER TABLE {name} RENAME TO job_logs")
    op.execute(f"ALTER TABLE job_logs RENAME CONSTRAINT {name}_pk TO pk_job_logs")
    op.execute(f"ALTER TABLE job_logs RENAME CONSTRAINT {name}_uq TO {UNIQUE}")
    op.execute(f"ALTER TABLE job_logs RENAME CONSTRAINT {name}_fk TO fk_job_logs_job_id_jobs")
    op.execute("CREATE INDEX ix_job_logs_timestamp ON job_logs (timestamp)")
    op.execute("ALTER SEQUENCE job_logs_id_seq OWNED BY job_logs.id")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    oldest = bind.execute(sa.text("SELECT min(job_created) FROM job_logs")).scalar()
    month = month_start(oldest or datetime.now(UTC))
    last = month_start(datetime.now(UTC))
    for _ in range(MONTHS_AHEAD):
        last = next_month(last)
    partitions = []
    while month <= last:
        partitions.append(create_sql(month, parent="job_logs_next"))
        month = next_month(month)
    partitions.append("CREATE TABLE job_logs_default PARTITION OF job_logs_next DEFAULT")
    _replace("job_logs_next", "id, job_created", True, partitions)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _replace("job_logs_plain", "id", False)
