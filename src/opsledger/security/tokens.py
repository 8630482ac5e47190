"""Access tokens: HS256 JWTs carrying the user id and the user's token version."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from opsledger.kit.schemas import MAX_ID

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["exp", "iat", "jti", "sub", "ver"]


@dataclass(frozen=True)
class TokenClaims:
    user_id: int
    version: int
    token_id: str  # what signing out revokes, until the token would have expired anyway
    expires_at: datetime


class TokenRejected(Exception):
    """The token is malformed, forged, expired or of a kind opsledger does not issue."""


def issue(user_id: int, version: int, secret: str, lifetime: timedelta) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "ver": version,
        "jti": secrets.token_hex(16),
        "iat": now,
        "exp": now + lifetime,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def read(token: str, secret: str) -> TokenClaims:
    """Verify signature, algorithm (HS256 only: no ``none``, no RS/HS confusion) and expiry."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": REQUIRED_CLAIMS}
        )
        return TokenClaims(
            user_id=_user_id(claims["sub"]),
            version=_version(claims["ver"]),
            token_id=_token_id(claims["jti"]),
            expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
        )
    # OverflowError: an ``exp`` past what the platform's time_t holds (PyJWT accepts it).
    except (jwt.PyJWTError, ValueError, TypeError, OverflowError) as exc:
        raise TokenRejected(type(exc).__name__) from None


def _token_id(jti: object) -> str:
    if not (isinstance(jti, str) and re.fullmatch(r"[0-9a-f]{32}", jti)):
        raise ValueError("jti")
    return jti


def _version(ver: object) -> int:
    """The token version, a JSON integer as ``issue`` writes it: not a string, a float or
    a boolean that ``int()`` would turn into one."""
    if type(ver) is not int or not 0 <= ver <= MAX_ID:
        raise ValueError("ver")
    return ver


def _user_id(sub: object) -> int:
    """The id a token names: ASCII digits within a row id's range. A signed token cannot
    be forged, but one this server never issued (another deployment's secret reused, a
    bug) must still be refused as a token, not reach the database as an out-of-range id."""
    if not (isinstance(sub, str) and sub.isascii() and sub.isdigit() and len(sub) <= 10):
        raise ValueError("sub")
    user_id = int(sub)
    if not 1 <= user_id <= MAX_ID:
        raise ValueError("sub")
    return user_id
