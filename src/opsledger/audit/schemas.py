"""The audit wire format."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from opsledger.kit.filtering import ListQuery
from opsledger.kit.schemas import MAX_ID, Instant, ResponseSchema


class AuditRead(ResponseSchema):
    id: int
    user_id: int | None
    user_name: str | None
    action: str
    resource_type: str
    resource_id: int | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    request_id: str | None
    ip_address: str | None
    user_agent: str | None
    timestamp: datetime
    prev_hash: str | None
    hash: str
    key_id: str | None


class AuditBreakRead(ResponseSchema):
    row_id: int | None
    reason: str


class AuditKeyUseRead(ResponseSchema):
    key_id: str = Field(description="The audit key's fingerprint, never the key.")
    rows: int
    signing: bool = Field(description="Whether this key signs the rows written now.")


class AuditVerificationRead(ResponseSchema):
    """A walk of the whole chain from its anchor: ``broken`` names the first row that does
    not fit (``rows`` verified before it)."""

    intact: bool
    rows: int
    unkeyed_rows: int = Field(
        description="Rows written before the chain was keyed, checked by plain SHA-256."
    )
    keys: list[AuditKeyUseRead]
    broken: AuditBreakRead | None
    head_id: int | None = Field(
        description="The chain's last row when intact (null when broken or empty). Keep it "
        "outside the database: a chain rolled back to an earlier state verifies intact, "
        "and only a head seen before tells (`opsledger audit verify --expect-head`)."
    )
    head_hash: str | None = Field(description="The hash of the row `head_id` names.")


class AuditQuery(ListQuery):
    """Newest first: ``after`` continues below the previous page's last id."""

    after: int | None = Field(None, ge=0, le=2**63 - 1, description="The previous `next_cursor`.")
    resource_type: str | None = Field(None, max_length=50)
    resource_id: int | None = Field(None, ge=0, le=MAX_ID)
    user_id: int | None = Field(None, ge=1, le=MAX_ID)
    action: str | None = Field(None, max_length=100)
    since: Instant | None = None
    until: Instant | None = None
