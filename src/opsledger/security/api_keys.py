"""API key material: ``olk_<prefix>_<secret>``. Only the SHA-256 of the whole key is
stored; the prefix finds the row with one indexed lookup."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

SCHEME = "olk"
LEGACY = "x"
PREFIX_BYTES = 6  # 12 hex characters: collisions are refused by a unique constraint
SECRET_BYTES = 32
_KEY_SHAPE = re.compile(r"^olk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class NewKey:
    prefix: str
    key: str
    key_hash: str


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def generate() -> NewKey:
    prefix = secrets.token_hex(PREFIX_BYTES)
    key = f"{SCHEME}_{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}"
    return NewKey(prefix=prefix, key=key, key_hash=digest(key))


def prefix_of(key: str) -> str | None:
    """The lookup prefix of a well-formed key, or None for anything else."""
    match = _KEY_SHAPE.match(key)
    return match.group(1) if match else None


def legacy_prefix(key_hash: str) -> str:
    """The lookup prefix of a key imported from the legacy in-memory store (``opsledger import
    users``), which has no prefix of its own: ``x`` and 15 hex digits of its SHA-256.
    No ``olk_`` prefix (12 hex digits) can equal one."""
    return LEGACY + key_hash[:15]


def lookup_prefix(key: str) -> str | None:
    """Where to find ``key``: its own prefix, or for any other key its legacy prefix."""
    return prefix_of(key) if looks_like_key(key) else legacy_prefix(digest(key))


def matches(key: str, key_hash: str) -> bool:
    return hmac.compare_digest(digest(key), key_hash)


def looks_like_key(credential: str) -> bool:
    return credential.startswith(f"{SCHEME}_")
