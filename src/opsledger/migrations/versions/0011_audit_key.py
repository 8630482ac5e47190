"""Audit rows are signed: from here on a row's hash is an HMAC-SHA256 under an audit key
kept out of the database, and ``key_id`` names that key by its fingerprint. Rows already
written are left as they are (plain SHA-256, no key_id): ``audit_chain.legacy_head_id``
records the last of them, the first signed row chains from its hash, and verification
accepts rows without a key_id up to it and none after.

The append-only guards cover the new column: PostgreSQL's trigger compares whole rows
(and the column reaches every partition of a partitioned audit_logs), MariaDB's refuses
every UPDATE, and SQLite's, which names the columns it protects, is recreated.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from opsledger.kit.errors import OperationFailed

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = "audit_logs rows are append-only"
COLUMNS_BEFORE = (
    "id, user_name, action, resource_type, resource_id, before_state, after_state, "
    "request_id, ip_address, user_agent, timestamp, prev_hash, hash"
)


def sqlite_update_guard(columns: str) -> list[str]:
    return [
        "DROP TRIGGER audit_logs_no_update",
        f"CREATE TRIGGER audit_logs_no_update BEFORE UPDATE OF {columns} ON audit_logs "
        f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY} (UPDATE refused)'); END",
    ]


def upgrade() -> None:
    op.add_column("audit_logs", sa.Column("key_id", sa.String(length=16), nullable=True))
    op.add_column(
        "audit_chain",
        sa.Column(
            "legacy_head_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
    )
    op.execute("UPDATE audit_chain SET legacy_head_id = head_id")
    if op.get_bind().dialect.name == "sqlite":
        for statement in sqlite_update_guard(f"{COLUMNS_BEFORE}, key_id"):
            op.execute(statement)


def downgrade() -> None:
    # Revision 0010 knows only plain SHA-256: it would report every signed row as
    # tampered with, and a later upgrade would take them all for unkeyed rows.
    signed = op.get_bind().scalar(
        sa.text("SELECT count(*) FROM audit_logs WHERE key_id IS NOT NULL")
    )
    if signed:
        raise OperationFailed(
            f"cannot downgrade below revision 0011: {signed} audit rows are signed "
            "(HMAC-SHA256), and older revisions would report each of them as tampered with"
        )
    if op.get_bind().dialect.name == "sqlite":
        for statement in sqlite_update_guard(COLUMNS_BEFORE):
            op.execute(statement)
    op.drop_column("audit_chain", "legacy_head_id")
    op.drop_column("audit_logs", "key_id")
