"""The keyed audit chain: rows are signed with a key kept out of the database, so a chain
rewritten without it fails verification at the first rewritten row; verification names
the keys that signed by fingerprint and never shows a key; OPSLEDGER_AUDIT_KEY signs
when set; and without any key nothing audited is written."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.audit.keys import AuditKey, AuditKeys
from opsledger.config import Settings
from opsledger.models import AuditLog
from opsledger.users.models import UserRole
from tests.api import ENCRYPTION_KEY, build_app, client_for, make_person
from tests.audit.chains import append_rows, forge, tamper, verify
from tests.e2e.cli import opsledger

# A key this server never had.
FOREIGN = AuditKey.of(secrets.token_bytes(32))
AUDIT_KEY = secrets.token_urlsafe(32)


def server_key(settings: Settings | None = None) -> AuditKey:
    return AuditKeys.configured(settings or Settings()).signing


async def row_ids(engine: AsyncEngine) -> list[int]:
    async with engine.connect() as connection:
        return list((await connection.scalars(select(AuditLog.id).order_by(AuditLog.id))).all())


@pytest.mark.parametrize(
    ("key", "claims_server_key", "reason"),
    [
        (None, False, "no key_id"),
        (None, True, "content does not match"),
        (FOREIGN, False, f"audit key {FOREIGN.key_id}, which none of the configured keys"),
        (FOREIGN, True, "content does not match"),
    ],
    ids=["sha256", "sha256-as-server-key", "foreign-hmac", "foreign-hmac-as-server-key"],
)
async def test_a_chain_rewritten_without_the_key_breaks_at_the_first_rewritten_row(
    scratch_engine: AsyncEngine,
    backend: str,
    key: AuditKey | None,
    claims_server_key: bool,
    reason: str,
) -> None:
    await append_rows(scratch_engine, 4)
    second = (await row_ids(scratch_engine))[1]
    own_id = key.key_id if key is not None else None
    await forge(
        scratch_engine, backend, second, key, server_key().key_id if claims_server_key else own_id
    )

    result = await verify(scratch_engine)

    assert result.broken is not None
    assert result.broken.row_id == second
    assert reason in result.broken.reason
    assert result.rows == 1


async def test_verify_names_the_signing_key_by_fingerprint_and_never_shows_a_key(
    scratch_engine: AsyncEngine, tmp_path: Path
) -> None:
    await append_rows(scratch_engine, 2)
    url = scratch_engine.url.render_as_string(hide_password=False)

    result = opsledger(
        "audit", "verify", cwd=tmp_path, database_url=url, encryption_keys=ENCRYPTION_KEY
    )

    key = server_key()
    assert result.returncode == 0, result.stderr
    assert "audit chain intact: 2 rows verified" in result.stdout
    assert f"signed by audit key {key.key_id} (signs new rows): 2" in result.stdout
    assert "unkeyed" not in result.stdout
    shown = result.stdout + result.stderr + repr(key)
    assert ENCRYPTION_KEY not in shown
    assert key.secret.hex() not in shown


async def test_the_audit_key_signs_when_set_and_only_it_verifies_its_rows(
    scratch_engine: AsyncEngine,
) -> None:
    with_audit_key = Settings(audit_key=SecretStr(AUDIT_KEY))
    await append_rows(scratch_engine, 2)
    await append_rows(scratch_engine, 3, with_audit_key)

    both = await verify(scratch_engine, with_audit_key)
    ring_only = await verify(scratch_engine)

    derived, chosen = server_key(), server_key(with_audit_key)
    assert chosen.key_id != derived.key_id
    assert both.broken is None
    assert [(use.key_id, use.rows, use.signing) for use in both.keys] == [
        (chosen.key_id, 3, True),
        (derived.key_id, 2, False),
    ]
    assert ring_only.broken is not None
    assert ring_only.broken.row_id == (await row_ids(scratch_engine))[2]
    assert f"audit key {chosen.key_id}, which none of the configured keys" in (
        ring_only.broken.reason
    )
    assert AUDIT_KEY not in ring_only.broken.reason


async def test_admins_read_the_verification_over_http(
    scratch_engine: AsyncEngine, backend: str
) -> None:
    await append_rows(scratch_engine, 2)
    admin = await make_person(scratch_engine, UserRole.admin)
    viewer = await make_person(scratch_engine, UserRole.viewer)
    async for client in client_for(build_app(scratch_engine)):
        intact = await client.get("/audit/verification", headers=admin.headers)
        refused = await client.get("/audit/verification", headers=viewer.headers)
        last = (await row_ids(scratch_engine))[-1]
        await forge(scratch_engine, backend, last, None, None)
        broken = await client.get("/audit/verification", headers=admin.headers)

    key_use = {"key_id": server_key().key_id, "rows": 2, "signing": True}
    assert intact.status_code == 200, intact.text
    assert intact.json() == {
        "intact": True,
        "rows": 2,
        "unkeyed_rows": 0,
        "keys": [key_use],
        "broken": None,
    }
    assert refused.status_code == 403
    assert broken.json()["intact"] is False
    assert broken.json()["broken"]["row_id"] == last
    assert broken.json()["keys"] == [key_use | {"rows": 1}]


def test_an_audited_command_without_any_key_fails_in_one_line_and_changes_nothing(
    tmp_path: Path,
) -> None:
    assert opsledger("db", "upgrade", cwd=tmp_path).returncode == 0

    created = opsledger("users", "create", "alice", "alice@example.com", cwd=tmp_path)
    listed = opsledger("users", "list", cwd=tmp_path)

    assert created.returncode == 1
    assert "audit rows are signed" in created.stderr
    assert "OPSLEDGER_ENCRYPTION_KEYS" in created.stderr
    assert "Traceback" not in created.stderr
    assert listed.returncode == 0, listed.stderr
    assert "alice" not in listed.stdout


def test_a_short_audit_key_is_refused_without_being_shown(tmp_path: Path) -> None:
    short = "guessable-audit-key"

    result = opsledger("audit", "verify", cwd=tmp_path, audit_key=short)

    assert result.returncode == 1
    assert "OPSLEDGER_AUDIT_KEY" in result.stderr
    assert "at least 32 characters" in result.stderr
    assert short not in result.stdout + result.stderr


@pytest.mark.parametrize("cut", ["oldest", "newest", "all"])
async def test_rows_cut_from_either_end_outside_retention_do_not_verify(
    scratch_engine: AsyncEngine, backend: str, cut: str
) -> None:
    """Review 2 deleted the oldest rows (or all) and moved the anchor: verify said intact.
    The chain's start and end are sealed with the audit key by every write and purge."""
    await append_rows(scratch_engine, 6)
    ids = await row_ids(scratch_engine)
    assert (await verify(scratch_engine)).broken is None
    statements = {
        "oldest": [
            f"DELETE FROM audit_logs WHERE id <= {ids[2]}",
            "UPDATE audit_chain SET anchor_hash = "
            f"(SELECT prev_hash FROM audit_logs WHERE id = {ids[3]})",
        ],
        "newest": [
            f"DELETE FROM audit_logs WHERE id >= {ids[4]}",
            f"UPDATE audit_chain SET head_id = {ids[3]}, head_hash = "
            f"(SELECT hash FROM audit_logs WHERE id = {ids[3]})",
        ],
        "all": ["DELETE FROM audit_logs", "UPDATE audit_chain SET anchor_hash = head_hash"],
    }[cut]
    await tamper(scratch_engine, backend, statements[0])  # the triggers go first
    async with scratch_engine.begin() as connection:
        await connection.execute(text(statements[1]))

    result = await verify(scratch_engine)

    assert result.broken is not None
    assert "start or end was moved" in result.broken.reason
