"""The hash chain: each row's hash covers the previous row's hash and its own content.

The hash is an HMAC-SHA256 under an audit key kept out of the database (``audit.keys``),
and ``key_id`` names that key: someone who can rewrite rows cannot make a hash that
verifies. Rows written before the chain was keyed (migration 0011) keep their plain
SHA-256 and no ``key_id``; they verify as before, but only up to the last of them
(``AuditChain.legacy_head_id``) and never after a signed row, and the first signed row
seals them. What no key can show: the chain's whole state put back as it was earlier
(rows cut from the end, the earlier head and its seal restored), which only a head kept
outside the database tells (``service.ExpectedHead``), or a chain rewritten whole as
unkeyed rows with ``legacy_head_id`` moved along, which verification reports as a chain
without signed rows.

``user_id`` is deliberately left out: it is the one field the database lets change (to
NULL, when the user is deleted); the copied ``user_name`` carries who acted.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from opsledger.audit.keys import AuditKey, AuditKeys
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


def compute_hash(prev_hash: str | None, row: AuditLog, key: AuditKey | None) -> str:
    """HMAC-SHA256 under ``key``; without one, the plain SHA-256 of rows written before
    the chain was keyed (only ever used to check those)."""
    message = (prev_hash or "").encode() + canonical(row).encode()
    if key is None:
        return hashlib.sha256(message).hexdigest()
    return hmac.new(key.secret, message, hashlib.sha256).hexdigest()


def seal(key: AuditKey, anchor_hash: str | None, head_id: int | None, head_hash: str | None) -> str:
    """The chain's own state, signed: where verification starts and where it must end.
    Rows cut from the start outside retention, from the end, or all of them, leave a
    state nobody without the key can seal again. ``<key_id>:<HMAC>``."""
    message = f"chain state\0{anchor_hash or ''}|{head_id or ''}|{head_hash or ''}".encode()
    return f"{key.key_id}:{hmac.new(key.secret, message, hashlib.sha256).hexdigest()}"


@dataclass(frozen=True)
class Break:
    row_id: int | None
    reason: str


@dataclass
class Walk:
    """Checks rows one at a time in chain order, from the anchor, and counts the rows
    that had no key and those each key signed."""

    keys: AuditKeys
    # The prev_hash the next row must carry.
    expected: str | None
    legacy_head_id: int | None
    unkeyed: int = 0
    signed: Counter[str] = field(default_factory=Counter)

    @property
    def rows(self) -> int:
        return self.unkeyed + self.signed.total()

    def check(self, row: AuditLog) -> Break | None:
        if row.prev_hash != self.expected:
            return Break(row.id, "its prev_hash does not match the previous row's hash")
        if row.key_id is None and not self._may_be_unkeyed(row):
            return Break(row.id, "it has no key_id, but was written after the chain was keyed")
        key = None if row.key_id is None else self.keys.known.get(row.key_id)
        if row.key_id is not None and key is None:
            return Break(
                row.id,
                f"it is signed by audit key {row.key_id}, which none of the configured keys "
                "matches (an encryption key dropped from OPSLEDGER_ENCRYPTION_KEYS, or another "
                "OPSLEDGER_AUDIT_KEY?)",
            )
        actual = compute_hash(row.prev_hash, row, key)
        if not hmac.compare_digest(actual.encode(), row.hash.encode()):
            return Break(row.id, "its content does not match its hash")
        if key is None:
            self.unkeyed += 1
        else:
            self.signed[key.key_id] += 1
        self.expected = row.hash
        return None

    def _may_be_unkeyed(self, row: AuditLog) -> bool:
        return self.legacy_head_id is not None and row.id <= self.legacy_head_id and not self.signed
