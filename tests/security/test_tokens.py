"""Tokens an attacker might present: every one of them is a 401."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.models import User
from opsledger.users.models import UserRole
from tests.api import JWT_SECRET, Person, bearer, make_person

FAR_FUTURE = 4_102_444_800  # 2100-01-01


def _segment(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(user_id: int, **changes: object) -> dict[str, object]:
    now = datetime.now(UTC)
    claims: dict[str, object] = {
        "sub": str(user_id),
        "ver": 0,
        "jti": secrets.token_hex(16),
        "iat": now,
        "exp": now + timedelta(minutes=5),
    }
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


def _hand_signed(header: dict[str, object], claims: dict[str, object], key: bytes) -> str:
    signing_input = f"{_segment(header)}.{_segment(claims)}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def forged_tokens(user_id: int) -> dict[str, str]:
    attacker = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    attacker_pem = attacker.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = attacker.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    past = datetime.now(UTC) - timedelta(hours=1)
    forever = {"sub": str(user_id), "ver": 0, "iat": 1, "exp": FAR_FUTURE}
    return {
        "expired": jwt.encode(
            _claims(user_id, iat=past - timedelta(hours=1), exp=past), JWT_SECRET, "HS256"
        ),
        "wrong secret": jwt.encode(_claims(user_id), "another-secret-" + "y" * 32, "HS256"),
        "alg none": f"{_segment({'alg': 'none', 'typ': 'JWT'})}.{_segment(forever)}.",
        "RS256 by an attacker": jwt.encode(_claims(user_id), attacker_pem, "RS256"),
        "HS256 keyed with a public key": _hand_signed(
            {"alg": "HS256", "typ": "JWT"}, forever, public_pem
        ),
        "HS512 with the real secret": jwt.encode(_claims(user_id), JWT_SECRET, "HS512"),
        "missing exp": jwt.encode(_claims(user_id, exp=None), JWT_SECRET, "HS256"),
        "missing iat": jwt.encode(_claims(user_id, iat=None), JWT_SECRET, "HS256"),
        "missing sub": jwt.encode(_claims(user_id, sub=None), JWT_SECRET, "HS256"),
        "non-numeric sub": jwt.encode(_claims(user_id, sub="admin"), JWT_SECRET, "HS256"),
        "oversized sub": jwt.encode(_claims(user_id, sub="9" * 40), JWT_SECRET, "HS256"),
        "sub past a row id": jwt.encode(_claims(user_id, sub=str(2**31)), JWT_SECRET, "HS256"),
        "zero sub": jwt.encode(_claims(user_id, sub="0"), JWT_SECRET, "HS256"),
        "non-ASCII digits in sub": jwt.encode(_claims(user_id, sub="\uff11"), JWT_SECRET, "HS256"),
        "exp past time_t": jwt.encode(_claims(user_id, exp=10**20), JWT_SECRET, "HS256"),
        "string ver": jwt.encode(_claims(user_id, ver="0"), JWT_SECRET, "HS256"),
        "boolean ver": jwt.encode(_claims(user_id, ver=False), JWT_SECRET, "HS256"),
        "fractional ver": jwt.encode(_claims(user_id, ver=0.5), JWT_SECRET, "HS256"),
        "garbage": "not.a.token",
    }


async def me(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    return await client.get("/users/me", headers=headers)


async def test_a_valid_token_is_accepted(client: httpx.AsyncClient, viewer: Person) -> None:
    response = await me(client, viewer.headers)
    assert response.status_code == 200
    assert response.json()["username"] == viewer.username


async def test_a_hand_built_token_is_accepted_when_every_claim_is_right(
    client: httpx.AsyncClient, viewer: Person
) -> None:
    """So each malformed kind below is refused for the one claim it changes."""
    token = jwt.encode(_claims(viewer.id), JWT_SECRET, "HS256")
    response = await me(client, {"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "kind",
    [
        "expired",
        "wrong secret",
        "alg none",
        "RS256 by an attacker",
        "HS256 keyed with a public key",
        "HS512 with the real secret",
        "missing exp",
        "missing iat",
        "missing sub",
        "non-numeric sub",
        "oversized sub",
        "sub past a row id",
        "zero sub",
        "non-ASCII digits in sub",
        "exp past time_t",
        "string ver",
        "boolean ver",
        "fractional ver",
        "garbage",
    ],
)
async def test_a_forged_or_malformed_token_is_refused(
    client: httpx.AsyncClient, viewer: Person, kind: str
) -> None:
    token = forged_tokens(viewer.id)[kind]
    response = await me(client, {"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_token_from_before_logout_all_is_refused(
    client: httpx.AsyncClient, viewer: Person
) -> None:
    assert (await client.post("/auth/logout-all", headers=viewer.headers)).status_code == 204
    assert (await me(client, viewer.headers)).status_code == 401
    assert (await me(client, bearer(viewer.id, version=1))).status_code == 200


async def test_a_deactivated_users_token_is_refused(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    person = await make_person(engine, UserRole.operator)
    async with engine.begin() as connection:
        await connection.execute(update(User).where(User.id == person.id).values(is_active=False))
    assert (await me(client, person.headers)).status_code == 401


async def test_no_credentials_is_401_not_403(client: httpx.AsyncClient) -> None:
    response = await me(client, {})
    assert response.status_code == 401


async def test_an_unknown_authorization_scheme_is_401(
    client: httpx.AsyncClient, viewer: Person
) -> None:
    response = await me(client, {"Authorization": "Basic dXNlcjpwYXNz"})
    assert response.status_code == 401
