"""Password hashing with bcrypt. Plaintext passwords never leave this module's callers'
stack frames: they are not logged, audited or returned."""

from __future__ import annotations

import asyncio
import secrets
from functools import lru_cache

import bcrypt

BCRYPT_MAX_BYTES = 72


class PasswordRejected(ValueError):
    """A password that cannot be accepted; the message never contains the password."""


def generate() -> str:
    """A password for someone to change on first use (shown once): 24 URL-safe
    characters, 144 random bits."""
    return secrets.token_urlsafe(18)


def check_policy(password: str, min_length: int) -> None:
    if len(password) < min_length:
        raise PasswordRejected(f"a password needs at least {min_length} characters")
    # bcrypt silently ignores everything after 72 bytes; refuse rather than truncate.
    if len(password.encode()) > BCRYPT_MAX_BYTES:
        raise PasswordRejected(f"a password may not exceed {BCRYPT_MAX_BYTES} bytes (UTF-8)")


def _hash(password: str, rounds: int) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=rounds)).decode()


def _matches(password: str, password_hash: str) -> bool:
    encoded = password.encode()
    if len(encoded) > BCRYPT_MAX_BYTES:
        return False
    return bcrypt.checkpw(encoded, password_hash.encode())


@lru_cache(maxsize=4)
def _decoy_hash(rounds: int) -> str:
    """A hash to verify against when the user does not exist, so that an unknown user
    costs the same bcrypt work as a wrong password."""
    return _hash("opsledger-decoy-password", rounds)


# bcrypt takes ~0.25 s at cost 12: run it off the event loop so one login doesn't stall
# every other request.
async def hash_password(password: str, rounds: int) -> str:
    return await asyncio.to_thread(_hash, password, rounds)


async def verify_password(password: str, password_hash: str | None, rounds: int) -> bool:
    """True when ``password`` matches; with no hash, does the same work and says False."""
    if password_hash is None:
        await asyncio.to_thread(_matches, password, _decoy_hash(rounds))
        return False
    return await asyncio.to_thread(_matches, password, password_hash)
