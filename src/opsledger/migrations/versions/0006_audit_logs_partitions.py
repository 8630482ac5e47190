"""On PostgreSQL, audit_logs becomes range-partitioned by month of its timestamp, so that
retention drops whole months of expired audit rows (see ops/partitions.py). Existing rows
are copied into partitions covering their months; ids continue from the same sequence.

The hash stays unique as (hash, timestamp): PostgreSQL enforces uniqueness on a
partitioned table only together with the partition key, and the hash covers the
timestamp, so no two rows can share a hash with different timestamps. The append-only
guards are recreated on the new table: the row trigger (cloned by PostgreSQL onto every
partition) and the TRUNCATE trigger (on the table and each partition). SQLite and MariaDB
keep the plain table.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from opsledger.migrations.rebuild import Rebuild
from opsledger.ops.partitions import AUDIT_LOGS

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REBUILD = Rebuild(
    table="audit_logs",
    columns=(
        "id, user_id, user_name, action, resource_type, resource_id, before_state, "
        "after_state, request_id, ip_address, user_agent, timestamp, prev_hash, hash"
    ),
    constraints={
        "pk": "pk_audit_logs",
        "uq": "uq_audit_logs_hash",
        "fk": "fk_audit_logs_user_id_users",
    },
    finish=[
        f"CREATE INDEX ix_audit_logs_{'_'.join(columns)} ON audit_logs ({', '.join(columns)})"
        for columns in (
            ["action"],
            ["action", "timestamp"],
            ["resource_type"],
            ["resource_type", "resource_id"],
            ["timestamp"],
            ["user_id"],
        )
    ]
    + [
        "CREATE TRIGGER audit_logs_append_only BEFORE UPDATE OR DELETE ON audit_logs "
        "FOR EACH ROW EXECUTE FUNCTION audit_logs_append_only()",
        "CREATE TRIGGER audit_logs_no_truncate BEFORE TRUNCATE ON audit_logs "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_logs_append_only()",
    ],
)


def _table_sql(name: str, partitioned: bool) -> str:
    key = ", timestamp" if partitioned else ""
    return f"""
        CREATE TABLE {name} (
            id BIGINT NOT NULL DEFAULT nextval('audit_logs_id_seq'),
            user_id INTEGER,
            user_name VARCHAR(80),
            action VARCHAR(100) NOT NULL,
            resource_type VARCHAR(50) NOT NULL,
            resource_id INTEGER,
            before_state JSONB,
            after_state JSONB,
            request_id VARCHAR(64),
            ip_address VARCHAR(45),
            user_agent VARCHAR(255),
            timestamp TIMESTAMP WITH TIME ZONE NOT NULL,
            prev_hash VARCHAR(64),
            hash VARCHAR(64) NOT NULL,
            CONSTRAINT {name}_pk PRIMARY KEY (id{key}),
            CONSTRAINT {name}_uq UNIQUE (hash{key}),
            CONSTRAINT {name}_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE SET NULL
        ) {"PARTITION BY RANGE (timestamp)" if partitioned else ""}
    """


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        REBUILD.into_months(AUDIT_LOGS, "audit_logs_next", _table_sql("audit_logs_next", True))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    REBUILD.run("audit_logs_plain", _table_sql("audit_logs_plain", False))
