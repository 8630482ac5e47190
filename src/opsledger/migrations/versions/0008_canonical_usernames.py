"""Usernames have one canonical form on every backend: lower case, and compared byte for
byte on MySQL/MariaDB, whose default collation let "Victim", "víctim" and "victim "
sign in as victim (each with five guesses of its own).

Existing names are lowered; two accounts that differ only in case stop the migration
with their names, for an admin to rename one (`opsledger users` on the old version).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Byte for byte and without PAD SPACE ("victim " is not "victim"): MariaDB and MySQL 8
# spell that collation differently.
BINARY = {True: "utf8mb4_nopad_bin", False: "utf8mb4_0900_bin"}
CASE_INSENSITIVE = "VARCHAR(80) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NOT NULL"


def upgrade() -> None:
    bind = op.get_bind()
    clashes = bind.execute(
        sa.text("SELECT LOWER(username) FROM users GROUP BY LOWER(username) HAVING COUNT(*) > 1")
    ).scalars()
    names = sorted(clashes)
    if names:
        raise RuntimeError(
            "usernames differing only in case cannot become one canonical name: "
            f"{', '.join(names)}; rename one of each first"
        )
    if bind.dialect.name == "mysql":
        collation = BINARY[bool(getattr(bind.dialect, "is_mariadb", False))]
        op.execute(
            f"ALTER TABLE users MODIFY username VARCHAR(80) CHARACTER SET utf8mb4 "
            f"COLLATE {collation} NOT NULL"
        )
    op.execute("UPDATE users SET username = LOWER(username) WHERE username <> LOWER(username)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "mysql":
        op.execute(f"ALTER TABLE users MODIFY username {CASE_INSENSITIVE}")
