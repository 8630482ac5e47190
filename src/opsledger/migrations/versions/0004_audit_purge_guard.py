"""Audit rows may leave only through retention: DELETE is allowed while the deleting
transaction holds a row in audit_purge_guard, which nothing else writes and which the
purge removes before it commits (so no other transaction ever sees one).

One mechanism on all three backends: a row other transactions cannot see, instead of a
session variable PostgreSQL and MySQL would spell differently and SQLite does not have.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import opsledger.db.types

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = "audit_logs rows are append-only"
GUARDED = "EXISTS (SELECT 1 FROM audit_purge_guard)"


def postgresql_function(allow_purge: bool) -> str:
    purge = f"IF TG_OP = 'DELETE' AND {GUARDED} THEN RETURN OLD; END IF;" if allow_purge else ""
    return f"""
        CREATE OR REPLACE FUNCTION audit_logs_append_only() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'UPDATE' AND NEW.user_id IS NULL
               AND (to_jsonb(NEW) - 'user_id') = (to_jsonb(OLD) - 'user_id') THEN
                RETURN NEW;
            END IF;
            {purge}
            RAISE EXCEPTION '{APPEND_ONLY} (% refused)', TG_OP;
        END
        $$
    """


def delete_trigger(dialect: str, allow_purge: bool) -> list[str]:
    if dialect == "postgresql":
        return [postgresql_function(allow_purge)]
    refused = f"{APPEND_ONLY} (DELETE refused)"
    if dialect == "mysql":
        body = (
            f"BEGIN IF NOT {GUARDED} THEN SIGNAL SQLSTATE '45000' "
            f"SET MESSAGE_TEXT = '{refused}'; END IF; END"
            if allow_purge
            else f"SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '{refused}'"
        )
        create = (
            f"CREATE TRIGGER audit_logs_no_delete BEFORE DELETE ON audit_logs FOR EACH ROW {body}"
        )
    else:
        when = f"WHEN NOT {GUARDED} " if allow_purge else ""
        create = (
            f"CREATE TRIGGER audit_logs_no_delete BEFORE DELETE ON audit_logs {when}"
            f"BEGIN SELECT RAISE(ABORT, '{refused}'); END"
        )
    return ["DROP TRIGGER audit_logs_no_delete", create]


def upgrade() -> None:
    op.create_table(
        "audit_purge_guard",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("started_at", opsledger.db.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_purge_guard")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    for statement in delete_trigger(op.get_bind().dialect.name, allow_purge=True):
        op.execute(statement)


def downgrade() -> None:
    for statement in delete_trigger(op.get_bind().dialect.name, allow_purge=False):
        op.execute(statement)
    op.drop_table("audit_purge_guard")
