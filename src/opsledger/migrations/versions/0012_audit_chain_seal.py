"""The audit chain's state (where verification starts and ends) is sealed with the audit
key, so rows cut from either end outside retention no longer verify.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("audit_chain", sa.Column("state_seal", sa.String(length=90), nullable=True))


def downgrade() -> None:
    # Going below 0011 while signed rows exist is refused before any step runs
    # (migrations.refuse_unkeying), and by 0011 itself for a bare Alembic.
    op.drop_column("audit_chain", "state_seal")
