"""Key rotation: every encrypted column moves to the newest key, batch by batch; a re-run
finds nothing left; afterwards the old key decrypts nothing, and still verifies the audit
rows signed while it was newest."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.audit.keys import AuditKeys
from opsledger.config import Settings
from opsledger.db.session import session_factory, unit_of_work
from opsledger.models import AuditLog, Credential, Infrastructure, Run, Secret
from opsledger.ops.key_rotation import rotate_keys
from opsledger.security.crypto import KeyRing, install_key_ring
from tests import factories as f
from tests.audit.chains import append_rows, verify
from tests.e2e.cli import opsledger

OLD, NEW = Fernet.generate_key(), Fernet.generate_key()


@pytest.fixture
def restore_key_ring(key_ring: KeyRing) -> Iterator[None]:
    yield
    install_key_ring(key_ring)


async def fill(engine: AsyncEngine) -> None:
    async with unit_of_work(session_factory(engine)) as session:
        user = await f.make_user(session)
        host = await f.make_host(session)
        for n in range(5):
            await f.make_secret(session, user, value=f"secret-{n}")
            await f.make_credential(session, host, value=f"credential-{n}")
        await f.make_infrastructure(session, secret_config='{"token": "t"}')
        await f.make_infrastructure(session)
        await f.make_run(session, secret_vars='{"token": "r"}')  # a secret prompt's value
        await f.make_run(session)
        await f.make_schedule(session, secret_prompts='{"token": "s"}')
        await f.make_channel(session, secret="signing-secret")  # and its URL
        await f.make_trigger(session)  # its signing secret


async def raw(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as connection:
        rows = []
        for table in ("secrets", "credentials"):
            rows += list((await connection.execute(text(f"SELECT value FROM {table}"))).scalars())
        rows += list(
            (
                await connection.execute(
                    text("SELECT secret_config FROM infrastructure WHERE secret_config IS NOT NULL")
                )
            ).scalars()
        )
        rows += list(
            (
                await connection.execute(
                    text("SELECT secret_vars FROM runs WHERE secret_vars IS NOT NULL")
                )
            ).scalars()
        )
    return rows


@pytest.mark.usefixtures("restore_key_ring")
async def test_rotation_moves_every_value_to_the_new_key(scratch_engine: AsyncEngine) -> None:
    install_key_ring(KeyRing([OLD]))
    await fill(scratch_engine)
    before = await raw(scratch_engine)
    ring = KeyRing([NEW, OLD])
    install_key_ring(ring)
    sessions = session_factory(scratch_engine)

    first = await rotate_keys(sessions, Settings(), ring, batch=2)
    again = await rotate_keys(sessions, Settings(), ring, batch=2)

    assert first.rotated == {
        "credentials.value": 5,
        "infrastructure.secret_config": 1,
        "notification_channels.secret": 1,
        "notification_channels.url": 1,
        "runs.secret_vars": 1,
        "schedules.secret_prompts": 1,
        "secrets.value": 5,
        "triggers.secret": 1,
    }
    assert first.examined == first.rotated
    assert set(again.rotated.values()) == {0}
    after = await raw(scratch_engine)
    assert not set(before) & set(after)
    install_key_ring(KeyRing([NEW]))
    async with unit_of_work(sessions) as session:
        values = sorted(await session.scalars(select(Secret.value)))
        credentials = sorted(await session.scalars(select(Credential.value)))
        configs = list(await session.scalars(select(Infrastructure.secret_config)))
        run_secrets = list(await session.scalars(select(Run.secret_vars)))
        actions = list(await session.scalars(select(AuditLog.action)))
    assert values == [f"secret-{n}" for n in range(5)]
    assert credentials == [f"credential-{n}" for n in range(5)]
    assert '{"token": "t"}' in configs
    assert '{"token": "r"}' in run_secrets
    assert actions == ["rotate", "rotate"]


@pytest.mark.usefixtures("restore_key_ring")
async def test_audit_rows_signed_before_a_rotation_verify_while_their_key_stays(
    scratch_engine: AsyncEngine,
) -> None:
    install_key_ring(KeyRing([OLD]))
    await append_rows(scratch_engine, 3)
    old = AuditKeys.configured(Settings()).signing
    ring = KeyRing([NEW, OLD])
    install_key_ring(ring)
    await rotate_keys(session_factory(scratch_engine), Settings(), ring)
    new = AuditKeys.configured(Settings()).signing

    rotated = await verify(scratch_engine)
    install_key_ring(KeyRing([NEW]))
    old_key_dropped = await verify(scratch_engine)

    assert rotated.broken is None
    assert [(use.key_id, use.rows, use.signing) for use in rotated.keys] == [
        (new.key_id, 1, True),
        (old.key_id, 3, False),
    ]
    assert old_key_dropped.broken is not None
    async with scratch_engine.connect() as connection:
        first = await connection.scalar(select(AuditLog.id).order_by(AuditLog.id).limit(1))
    assert old_key_dropped.broken.row_id == first
    assert f"audit key {old.key_id}, which none of the configured keys" in (
        old_key_dropped.broken.reason
    )


@pytest.mark.usefixtures("restore_key_ring")
async def test_keys_rotate_command_reports_and_is_safe_to_rerun(
    scratch_engine: AsyncEngine, tmp_path: Path
) -> None:
    install_key_ring(KeyRing([OLD]))
    await fill(scratch_engine)
    url = scratch_engine.url.render_as_string(hide_password=False)
    keys = f"{NEW.decode()},{OLD.decode()}"

    first = opsledger("keys", "rotate", cwd=tmp_path, database_url=url, encryption_keys=keys)
    second = opsledger("keys", "rotate", cwd=tmp_path, database_url=url, encryption_keys=keys)
    unrelated = Fernet.generate_key().decode()
    wrong_key = opsledger(
        "keys", "rotate", cwd=tmp_path, database_url=url, encryption_keys=unrelated, script=True
    )

    assert first.returncode == 0, first.stderr
    assert "secrets.value: 5 of 5 values re-encrypted" in first.stdout
    assert "secrets.value: 0 of 5 values re-encrypted" in second.stdout
    assert wrong_key.returncode == 1
    assert "cannot be decrypted" in wrong_key.stderr
    assert "Traceback" not in wrong_key.stderr
    generated = opsledger("keys", "generate", cwd=tmp_path)
    assert Fernet(generated.stdout.strip().encode())
