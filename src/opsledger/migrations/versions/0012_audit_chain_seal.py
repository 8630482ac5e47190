"""The audit chain's state (where verification starts and ends) is sealed with the audit
key, so rows cut from either end outside retention no longer verify.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

from opsledger.kit.errors import OperationFailed

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("audit_chain", sa.Column("state_seal", sa.String(length=90), nullable=True))


def downgrade() -> None:
    # Going below 0011 is refused while signed rows exist (see 0011). On MySQL/MariaDB a
    # DROP COLUMN commits at once: refuse here first, not after this column is gone.
    signed = op.get_bind().scalar(
        sa.text("SELECT count(*) FROM audit_logs WHERE key_id IS NOT NULL")
    )
    target = context.get_revision_argument()
    if signed and target not in ("0011", None):
        raise OperationFailed(
            f"cannot downgrade below revision 0011: {signed} audit rows are signed "
            "(HMAC-SHA256), and older revisions would report each of them as tampered with"
        )
    op.drop_column("audit_chain", "state_seal")
