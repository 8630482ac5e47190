"""The audit wire format."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from opsledger.kit.schemas import ResponseSchema


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
