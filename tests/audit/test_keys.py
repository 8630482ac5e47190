"""The keyed audit chain: rows are signed with a key kept out of the database, so a chain
rewritten without it fails verification at the first rewritten row; verification names
the keys that signed by fingerprint and never shows a key; OPSLEDGER_AUDIT_KEY signs
when set; and without any key nothing audited is written."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.audit import service as audit
from opsledger.audit.keys import AuditKey, AuditKeys
from opsledger.config import Settings
from opsledger.db.base import utcnow
from opsledger.db.session import session_factory, unit_of_work
from opsledger.models import AuditLog
from opsledger.users.models import UserRole
from tests.api import ENCRYPTION_KEY, build_app, client_for, make_person
from tests.audit.chains import append_rows, chain_state, forge, roll_back, tamper, verify
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
        head_hash = (await chain_state(scratch_engine))["head_hash"]
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
        "head_id": last,
        "head_hash": head_hash,
    }
    assert refused.status_code == 403
    assert broken.json()["intact"] is False
    assert broken.json()["broken"]["row_id"] == last
    assert broken.json()["keys"] == [key_use | {"rows": 1}]
    assert (broken.json()["head_id"], broken.json()["head_hash"]) == (None, None)


def test_an_audited_command_without_any_key_fails_in_one_line_and_changes_nothing(
    tmp_path: Path,
) -> None:
    assert opsledger("db", "upgrade", cwd=tmp_path).returncode == 0

    created = opsledger("users", "create", "alice", "alice@example.com", cwd=tmp_path, script=True)
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


def printed_head(result: audit.Verification) -> audit.ExpectedHead:
    """The head as verify prints it to be kept: its row and 16 hex digits of its hash."""
    assert result.head_id is not None
    assert result.head_hash is not None
    return audit.ExpectedHead(result.head_id, result.head_hash[:16])


async def test_a_chain_rolled_back_whole_verifies_but_not_against_a_head_kept_outside(
    scratch_engine: AsyncEngine, backend: str
) -> None:
    """Review 3 saved the audit_chain row, let rows be written, deleted them (triggers
    dropped) and put the row back: verify said intact. The database alone cannot tell
    (README); a head an earlier verification printed, kept elsewhere, does."""
    await append_rows(scratch_engine, 3)
    earlier = await chain_state(scratch_engine)
    await append_rows(scratch_engine, 3)
    later = await verify(scratch_engine)
    kept = printed_head(later)

    await roll_back(scratch_engine, backend, earlier)
    plain = await verify(scratch_engine)
    against_kept = await verify(scratch_engine, expected=kept)
    against_id_only = await verify(scratch_engine, expected=audit.ExpectedHead(kept.row_id))
    earlier_head = audit.ExpectedHead(int(str(earlier["head_id"])), str(earlier["head_hash"])[:16])
    against_earlier = await verify(scratch_engine, expected=earlier_head)
    # Written on from the earlier state: the kept row id may be reached again (SQLite
    # reuses ids), but never with the row an earlier verification saw.
    await append_rows(scratch_engine, 6)
    written_on = await verify(scratch_engine, expected=kept)

    assert plain.broken is None  # the documented limit
    assert (plain.rows, plain.head_id) == (3, earlier["head_id"])
    assert against_kept.broken is not None
    assert against_kept.broken.row_id == kept.row_id
    assert "rolled back" in against_kept.broken.reason
    assert against_id_only.broken is not None
    assert against_earlier.broken is None
    assert written_on.broken is not None
    assert written_on.broken.row_id == kept.row_id
    assert "rolled back and written on" in written_on.broken.reason
    assert written_on.head_id is None


async def test_rows_retention_removed_do_not_fail_an_expected_head(
    scratch_engine: AsyncEngine,
) -> None:
    """A head kept long ago may be older than the oldest row kept: the chain still
    reaches past it, so it holds."""
    await append_rows(scratch_engine, 2)
    old = printed_head(await verify(scratch_engine))
    await append_rows(scratch_engine, 2)
    async with unit_of_work(session_factory(scratch_engine)) as session:
        await audit.purge_before(session, utcnow() + timedelta(days=1), 3, server_key())

    result = await verify(scratch_engine, expected=old)

    assert result.broken is None
    assert result.rows == 1


async def test_audit_verify_prints_the_head_and_fails_when_the_chain_falls_short_of_it(
    scratch_engine: AsyncEngine, backend: str, tmp_path: Path
) -> None:
    url = scratch_engine.url.render_as_string(hide_password=False)
    env = {"database_url": url, "encryption_keys": ENCRYPTION_KEY}
    await append_rows(scratch_engine, 2)
    earlier = await chain_state(scratch_engine)
    await append_rows(scratch_engine, 2)
    first = opsledger("audit", "verify", cwd=tmp_path, **env)
    printed = re.search(r"--expect-head (\d+:[0-9a-f]{16})\b", first.stdout)
    assert printed is not None, first.stdout
    head = printed.group(1)
    still = opsledger("audit", "verify", "--expect-head", head, cwd=tmp_path, **env)

    await roll_back(scratch_engine, backend, earlier)
    plain = opsledger("audit", "verify", cwd=tmp_path, **env)
    expected = opsledger("audit", "verify", "--expect-head", head, cwd=tmp_path, **env)
    nonsense = opsledger("audit", "verify", "--expect-head", "latest", cwd=tmp_path, **env)

    head_id = head.split(":")[0]
    assert first.returncode == 0, first.stderr
    assert f"head: row {head_id}, hash {head.split(':')[1]}" in first.stdout
    assert still.returncode == 0, still.stderr
    assert plain.returncode == 0, plain.stderr
    assert f"head: row {earlier['head_id']}" in plain.stdout
    assert expected.returncode == 1
    assert f"audit chain broken at row {head_id}" in expected.stderr
    assert f"the chain ends at row {earlier['head_id']}" in expected.stderr
    assert "rolled back" in expected.stderr
    assert nonsense.returncode == 2
    assert "ROW_ID:HASH_PREFIX" in nonsense.stderr
