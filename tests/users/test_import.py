"""Importing seed 003's in-memory user store: bcrypt hashes at cost 12+ keep working,
anything else needs a reset, imported API keys authenticate through X-API-Key, a re-run
imports nothing twice, and an invalid file changes nothing."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import bcrypt
import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.db.session import session_factory, unit_of_work
from opsledger.models import AuditLog, User
from opsledger.security.context import cli_context
from opsledger.users.importing import LegacyExport, import_users
from tests.api import ENCRYPTION_KEY, PASSWORD, api_settings, password_hash
from tests.e2e.cli import opsledger
from tests.factories import unique


def export() -> tuple[dict[str, Any], dict[str, str]]:
    """An export with three users and three keys; also the raw keys by name."""
    names = {who: unique(who) for who in ("alice", "bob", "carol")}
    raw = {which: f"ao_{unique(which)}_{'k' * 32}" for which in ("alice", "revoked", "bob")}
    weak = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(10)).decode()
    users = [
        {"user_id": "u1", "username": names["alice"], "email": f"{names['alice']}@Example.com",
         "password_hash": password_hash(), "role": "operator",
         "created_at": "2025-01-02T03:04:05", "last_login": None, "full_name": "ignored"},
        {"user_id": "u2", "username": names["bob"], "email": f"{names['bob']}@example.com",
         "password_hash": "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", "role": "viewer"},
        {"user_id": "u3", "username": names["carol"], "email": f"{names['carol']}@example.com",
         "password_hash": weak, "role": "admin", "is_active": False},
    ]  # fmt: skip
    keys = [
        {"key_id": "k1", "user_id": "u1", "name": "ci", "key_hash": sha(raw["alice"])},
        {"key_id": "k2", "user_id": "u1", "name": "old", "key_hash": sha(raw["revoked"]),
         "is_active": False},
        {"key_id": "k3", "user_id": "u2", "name": "bob", "key_hash": sha(raw["bob"]),
         "expires_at": "2099-01-01T00:00:00+00:00"},
    ]  # fmt: skip
    return {"users": users, "api_keys": keys}, names | {f"key:{k}": v for k, v in raw.items()}


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def run_import(engine: AsyncEngine, document: dict[str, Any]) -> Any:
    async with unit_of_work(session_factory(engine)) as session:
        ctx = cli_context(session, api_settings())
        return await import_users(ctx, LegacyExport.model_validate(document))


async def test_imported_users_and_keys_work_and_a_rerun_changes_nothing(
    engine: AsyncEngine, client: httpx.AsyncClient
) -> None:
    document, names = export()
    async with engine.connect() as connection:  # user ids can come back on SQLite
        mark = await connection.scalar(select(func.coalesce(func.max(AuditLog.id), 0)))

    first = await run_import(engine, document)
    again = await run_import(engine, document)

    assert first.created == [names["alice"], names["bob"], names["carol"]]
    assert first.needs_password_reset == [names["bob"], names["carol"]]
    assert first.keys_created == 3
    assert again.created == []
    assert again.already_present == first.created
    assert again.keys_already_present == 3

    login = await client.post(
        "/auth/login", json={"username": names["alice"], "password": PASSWORD}
    )
    assert login.status_code == 200, login.text
    for who in ("bob", "carol"):
        refused = await client.post(
            "/auth/login", json={"username": names[who], "password": PASSWORD}
        )
        assert refused.status_code == 401
    me = await client.get("/users/me", headers={"X-API-Key": names["key:alice"]})
    assert me.status_code == 200, me.text
    assert me.json()["username"] == names["alice"]
    assert me.json()["role"] == "operator"
    assert (
        await client.get("/users/me", headers={"X-API-Key": names["key:bob"]})
    ).status_code == 200
    for refused_key in (names["key:revoked"], names["key:alice"] + "x"):
        response = await client.get("/users/me", headers={"X-API-Key": refused_key})
        assert response.status_code == 401

    async with unit_of_work(session_factory(engine)) as session:
        alice = await session.scalar(select(User).where(User.username == names["alice"]))
        assert alice is not None
        assert alice.email == f"{names['alice']}@example.com"
        assert alice.created_at.year == 2025
        created = await session.scalars(
            select(AuditLog)
            .where(AuditLog.resource_type == "user", AuditLog.resource_id == alice.id)
            .where(AuditLog.id > mark)
            .order_by(AuditLog.id)
        )
        rows = list(created)
        assert [row.action for row in rows] == ["create", "login"]
        assert rows[0].after is not None
        assert rows[0].after["password_hash"] == "********"


async def test_an_invalid_export_is_refused_whole(engine: AsyncEngine, tmp_path: Path) -> None:
    document, names = export()
    document["api_keys"].append(
        {"key_id": "k9", "user_id": "nobody", "name": "x", "key_hash": "0" * 64}
    )
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(document))
    good_document, good_names = export()
    good = tmp_path / "good.json"
    good.write_text(json.dumps(good_document))
    (tmp_path / "broken.json").write_text("{not json")
    url = {"database_url": engine.url.render_as_string(hide_password=False)}

    refused = opsledger(
        "import", "users", str(bad), cwd=tmp_path, encryption_keys=ENCRYPTION_KEY, **url
    )
    broken = opsledger(
        "import", "users", "broken.json", cwd=tmp_path, encryption_keys=ENCRYPTION_KEY, **url
    )
    missing = opsledger(
        "import", "users", "nope.json", cwd=tmp_path, encryption_keys=ENCRYPTION_KEY, **url
    )
    imported = opsledger(
        "import", "users", str(good), cwd=tmp_path, encryption_keys=ENCRYPTION_KEY, **url
    )

    assert refused.returncode == 1
    assert "api keys of users not in the export" in refused.stderr
    assert broken.returncode == 1
    assert "invalid file" in broken.stderr
    assert missing.returncode == 1
    assert "cannot read nope.json" in missing.stderr
    assert imported.returncode == 0, imported.stderr
    assert "imported 3 users and 3 API keys" in imported.stdout
    assert "need a password reset" in imported.stdout
    async with engine.connect() as connection:
        count = await connection.scalar(
            select(func.count()).select_from(User).where(User.username == names["alice"])
        )
    assert count == 0  # the refused file wrote nothing
    assert good_names["alice"] != names["alice"]
