"""Backup on SQLite, restore into each backend: the same rows (per-table checksums of a
backup of the target match the original's), secrets still decrypt, the audit chain
verifies; a corrupt or foreign archive and a non-empty target are refused untouched."""

from __future__ import annotations

import json
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger import migrations
from opsledger.audit import service as audit
from opsledger.config import Settings
from opsledger.db.engine import create_engine
from opsledger.db.session import session_factory, unit_of_work
from opsledger.models import Credential, Host, Secret
from opsledger.ops import backup
from opsledger.security.context import cli_context
from opsledger.worker.ingest import LogWriter
from tests import factories as f
from tests.api import ENCRYPTION_KEY
from tests.conftest import settings_for
from tests.e2e.cli import opsledger

SECRET = "s3cr3t-value-for-the-backup-test"
KEY_MATERIAL = "-----BEGIN OPENSSH PRIVATE KEY-----\nbackup-test\n-----END OPENSSH PRIVATE KEY-----"


@pytest.fixture
async def source(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A SQLite database with a row in every table and a valid audit chain."""
    engine = create_engine(settings_for(f"sqlite+aiosqlite:///{tmp_path / 'source.db'}"))
    await migrations.upgrade(engine)
    async with unit_of_work(session_factory(engine)) as session:
        user = await f.make_user(session)
        await f.make_api_key(session, user)
        await f.make_secret(session, user, value=SECRET)
        role = await f.make_role(session, variables={"b": [1, 2], "a": {"nested": True}})
        host = await f.make_host(session, host_role_id=role.id, tags={"rack": "r1"})
        await f.make_credential(session, host, value=KEY_MATERIAL)
        job = await f.make_job(session, host_id=host.id, user_id=user.id, extra_vars={"x": 1})
        await f.make_ticket(session, job_id=job.id, created_by=user.id)
        await f.make_application(session)
        await f.make_infrastructure(session)
        deployment = await f.make_deployment(session, user_id=user.id)
        await f.make_replica(session, deployment)
        await f.make_resources(session, deployment, cpu_cores=1.5)
        await f.make_history(session, deployment)
        await f.make_alert(session)
        for n in range(3):
            await audit.record(cli_context(session, settings_for("sqlite://")), "made", "x", n)
    writer = LogWriter(engine, job.id, job.created_at)
    await writer.write_many(f"line {n} é ✓" for n in range(2500))
    await writer.close()
    yield engine
    await engine.dispose()


def checksums(manifest: backup.Manifest) -> dict[str, tuple[int, str]]:
    return {entry.name: (entry.rows, entry.sha256) for entry in manifest.tables}


async def test_a_sqlite_backup_restores_identically_into_each_backend(
    source: AsyncEngine, scratch_engine: AsyncEngine, tmp_path: Path
) -> None:
    written = await backup.backup(source, tmp_path / "first.zip")
    restored = await backup.restore(scratch_engine, tmp_path / "first.zip")
    again = await backup.backup(scratch_engine, tmp_path / "again.zip")

    assert restored == written
    assert (tmp_path / "first.zip").stat().st_mode & 0o777 == 0o600
    assert written.schema_revision == migrations.head_revision()
    assert {entry.name for entry in written.tables} >= {"users", "job_logs", "audit_logs"}
    assert all(rows > 0 for rows, _ in checksums(written).values())
    assert checksums(again) == checksums(written)
    async with unit_of_work(session_factory(scratch_engine)) as session:
        assert await session.scalar(select(Secret.value)) == SECRET
        assert await session.scalar(select(Credential.value)) == KEY_MATERIAL
        assert (await audit.verify(session, Settings())).broken is None
        # New rows get fresh ids after the restored ones (sequences moved on).
        host = await f.make_host(session)
        assert host.id > await session.scalar(select(func.min(Host.id)))
    with zipfile.ZipFile(tmp_path / "first.zip") as archive:
        everything = b"".join(archive.read(name) for name in archive.namelist())
    assert SECRET.encode() not in everything
    assert b"backup-test" not in everything


async def test_a_non_empty_target_is_refused_unless_forced(
    source: AsyncEngine, scratch_engine: AsyncEngine, tmp_path: Path
) -> None:
    archive = tmp_path / "backup.zip"
    written = await backup.backup(source, archive)
    await backup.restore(scratch_engine, archive)

    with pytest.raises(backup.BackupError, match="not empty"):
        await backup.restore(scratch_engine, archive)
    await backup.restore(scratch_engine, archive, force=True)

    assert checksums(await backup.backup(scratch_engine, tmp_path / "after.zip")) == checksums(
        written
    )


def tamper(original: Path, copy: Path, change: dict[str, bytes]) -> None:
    with zipfile.ZipFile(original) as old, zipfile.ZipFile(copy, "w") as new:
        for name in old.namelist():
            new.writestr(name, change.get(name, old.read(name)))


async def test_corrupt_foreign_or_other_revision_archives_are_refused_untouched(
    source: AsyncEngine, scratch_engine: AsyncEngine, tmp_path: Path
) -> None:
    archive = tmp_path / "backup.zip"
    await backup.backup(source, archive)
    with zipfile.ZipFile(archive) as opened:
        hosts = opened.read("tables/hosts.jsonl")
        manifest = json.loads(opened.read(backup.MANIFEST))
    tamper(archive, tmp_path / "corrupt.zip", {"tables/hosts.jsonl": hosts.replace(b"r1", b"r2")})
    old = manifest | {"schema_revision": "0001"}
    tamper(archive, tmp_path / "old.zip", {backup.MANIFEST: json.dumps(old).encode()})
    (tmp_path / "junk.zip").write_bytes(b"not a zip file")
    await migrations.downgrade(scratch_engine, "base")

    for name, problem in (
        ("corrupt.zip", "checksum"),
        ("old.zip", "schema 0001"),
        ("junk.zip", "cannot read"),
    ):
        with pytest.raises(backup.BackupError, match=problem):
            await backup.restore(scratch_engine, tmp_path / name)
    assert await migrations.current_revision(scratch_engine) is None  # nothing written


@pytest.mark.backends("sqlite")
async def test_backup_and_restore_commands(source: AsyncEngine, tmp_path: Path) -> None:
    settings = {"encryption_keys": ENCRYPTION_KEY}
    from_url = source.url.render_as_string(hide_password=False)
    to_url = f"sqlite:///{tmp_path / 'target.db'}"

    written = opsledger("backup", "out.zip", cwd=tmp_path, database_url=from_url, **settings)
    exists = opsledger("backup", "out.zip", cwd=tmp_path, database_url=from_url, **settings)
    restored = opsledger("restore", "out.zip", cwd=tmp_path, database_url=to_url, **settings)
    twice = opsledger("restore", "out.zip", cwd=tmp_path, database_url=to_url, **settings)
    verified = opsledger("audit", "verify", cwd=tmp_path, database_url=to_url, **settings)

    assert written.returncode == 0, written.stderr
    assert "wrote out.zip" in written.stdout
    assert exists.returncode == 1
    assert "already exists" in exists.stderr
    assert restored.returncode == 0, restored.stderr
    assert "restored out.zip" in restored.stdout
    assert twice.returncode == 1
    assert "not empty" in twice.stderr
    assert verified.returncode == 0, verified.stdout
