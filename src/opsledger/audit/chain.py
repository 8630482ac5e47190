"""The hash chain: each row's hash covers the previous row's hash and its own content.

``user_id`` is deliberately left out: it is the one field the database lets change (to
NULL, when the user is deleted); the copied ``user_name`` carries who acted.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opsledger.audit.models import AuditLog


def canonical(row: AuditLog) -> str:
    fields: dict[str, Any] = {
        "user_name": row.user_name,
        "action": row.action,
        "resource_type": row.resource_type,
        "resource_id": row.resource_id,
        "before": row.before,
        "after": row.after,
        "request_id": row.request_id,
        "ip_address": row.ip_address,
        "user_agent": row.user_agent,
        "timestamp": _instant(row.timestamp),
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _instant(moment: datetime) -> str:
    # A fixed format: isoformat() drops zero microseconds, and backends differ in what
    # they hand back for them.
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def compute_hash(prev_hash: str | None, row: AuditLog) -> str:
    digest = hashlib.sha256()
    digest.update((prev_hash or "").encode())
    digest.update(canonical(row).encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class Break:
    row_id: int | None
    reason: str


def check_row(expected_prev: str | None, row: AuditLog) -> Break | None:
    if row.prev_hash != expected_prev:
        return Break(row.id, "its prev_hash does not match the previous row's hash")
    if compute_hash(row.prev_hash, row) != row.hash:
        return Break(row.id, "its content does not match its hash")
    return None
