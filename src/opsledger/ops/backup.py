"""Backup and restore: one portable archive for every backend.

The archive is a ZIP file: ``manifest.json`` (format, schema revision, and per table its
row count and the SHA-256 of its stream) and one deflate-compressed JSON-lines stream
per table, in foreign-key dependency order, one canonical JSON object per row (sorted
keys, UTC ISO-8601 times). Encrypted columns are copied as their ciphertext: a backup
holds no plaintext secret, and a restore needs the same encryption keys. The dump reads
one snapshot (a single repeatable-read transaction), so it is consistent while the
server keeps running.

Every playbook's file travels with it, so that a restore on another machine can run
jobs: one member ``playbooks/<sha256>`` per distinct content, listed in the manifest with
each playbook's path relative to the playbook root. A file that is missing, outside the
root or no longer the content its row pins is recorded as missing instead and named by
both commands: refusing the whole backup would trade one playbook for the database, and
its jobs cannot run at the source either. Archives of format version 1 predate playbook
files; they still restore, with a warning that they hold none.

A restore checks the format, the schema revision (it must be this release's), every
table's checksum and every playbook file (its SHA-256, that it is what its row pins, a
path that cannot climb out of the root, no other file already in its place) before it
writes anything, migrates the target to that revision, and refuses a target that
already holds data unless forced (which empties it first). It writes the files under
this machine's playbook root and points the rows at them: rows hold the file's absolute
path, as registering a playbook stores it, so a restore under another root moves them
there. If the restore fails, the files and directories it made are removed again."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import uuid
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import IO, Any

from sqlalchemy import (
    Column,
    MetaData,
    Row,
    Table,
    Text,
    Uuid,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from opsledger import migrations
from opsledger.audit.models import AuditPurgeGuard
from opsledger.db.base import Base, utcnow
from opsledger.db.engine import snapshot
from opsledger.db.types import EncryptedString, UTCDateTime
from opsledger.jobs.models import HostLock
from opsledger.kit.errors import OperationFailed
from opsledger.playbooks import files
from opsledger.playbooks.models import Playbook

FORMAT = "opsledger-backup"
VERSION = 2
# Version 1 archives are version 2 without playbook files.
READABLE = frozenset({1, VERSION})
MANIFEST = "manifest.json"
BATCH = 1000
# Empty outside a retention purge's own transaction; held only while a job runs (and
# no restored job is running).
SKIPPED = frozenset({AuditPurgeGuard.__tablename__, HostLock.__tablename__})
# Seeded by a migration: restored by replacing its one row.
REPLACED = frozenset({"audit_chain"})

Progress = Callable[[str, int], None]


class BackupError(OperationFailed):
    """The archive cannot be written or is not fit to restore."""


@dataclass(frozen=True)
class TableEntry:
    name: str
    rows: int
    sha256: str


@dataclass(frozen=True)
class PlaybookFile:
    """A playbook's file: member ``playbooks/<sha256>``, at ``path`` under the root."""

    playbook_id: int
    name: str
    path: str
    sha256: str

    @property
    def member(self) -> str:
        return f"playbooks/{self.sha256}"


@dataclass(frozen=True)
class MissingPlaybook:
    """A playbook whose file could not be saved, and why."""

    playbook_id: int
    name: str
    file_path: str
    problem: str


@dataclass(frozen=True)
class Manifest:
    format: str
    version: int
    schema_revision: str | None
    created_at: str
    tables: list[TableEntry]
    playbook_files: list[PlaybookFile]
    missing_playbooks: list[MissingPlaybook]

    @classmethod
    def parse(cls, data: bytes) -> Manifest:
        try:
            fields = json.loads(data)
            manifest = cls(
                tables=[TableEntry(**entry) for entry in fields.pop("tables")],
                playbook_files=[PlaybookFile(**e) for e in fields.pop("playbook_files", [])],
                missing_playbooks=[
                    MissingPlaybook(**e) for e in fields.pop("missing_playbooks", [])
                ],
                **fields,
            )
        except (ValueError, TypeError, KeyError) as exc:
            raise BackupError(f"not an opsledger backup: {MANIFEST} is unreadable") from exc
        if manifest.format != FORMAT or manifest.version not in READABLE:
            raise BackupError(
                f"unsupported archive: {manifest.format} version {manifest.version} "
                f"(this release reads {FORMAT} versions {sorted(READABLE)})"
            )
        return manifest

    def file_count(self) -> int:
        return len({entry.path for entry in self.playbook_files})

    def warnings(self) -> list[str]:
        """What a restore of this archive cannot bring back, for both commands to say."""
        if self.version == 1:
            return [
                "this archive predates playbook files (format version 1) and holds none: "
                "jobs refuse to run until each playbook's file is back at its file_path"
            ]
        return [
            f"playbook {missing.name!r}: its file {missing.file_path} {missing.problem}, so "
            "it is not in the archive and its jobs will not run after a restore"
            for missing in self.missing_playbooks
        ]


def tables() -> list[Table]:
    return [t for t in Base.metadata.sorted_tables if t.name not in SKIPPED]


@cache
def stored_form(table: Table) -> Table:
    """The table as it is stored: encrypted columns as plain text (ciphertext in, out),
    generated columns left out (the database computes them)."""
    columns = [
        Column(
            column.name,
            Text() if isinstance(column.type, EncryptedString) else column.type,
            primary_key=column.primary_key,
        )
        for column in table.columns
        if column.computed is None
    ]
    return Table(table.name, MetaData(), *columns)


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def canonical(row: dict[str, Any]) -> bytes:
    encoded = {name: _encode(value) for name, value in row.items()}
    return json.dumps(encoded, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


async def backup(
    engine: AsyncEngine, path: Path, playbook_root: Path, progress: Progress | None = None
) -> Manifest:
    """Write every table, and every playbook's file under ``playbook_root``, to a new
    archive at ``path`` from one consistent snapshot."""
    entries = []
    try:
        # Owner-only: the archive holds password and key hashes and the audit trail.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise BackupError(f"{path} already exists: choose a new file") from None
    try:
        with (
            os.fdopen(descriptor, "wb") as file,
            zipfile.ZipFile(file, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive,
        ):
            async with snapshot(engine).connect() as connection, connection.begin():
                revision = await connection.scalar(text("SELECT version_num FROM alembic_version"))
                for table in tables():
                    with archive.open(f"tables/{table.name}.jsonl", "w", force_zip64=True) as out:
                        entries.append(await _dump(connection, table, out, progress))
                pinned = await connection.execute(
                    select(
                        Playbook.id, Playbook.name, Playbook.file_path, Playbook.file_hash
                    ).order_by(Playbook.id)
                )
                saved, missing = await _save_files(archive, playbook_root, pinned.all())
            manifest = Manifest(
                FORMAT, VERSION, revision, utcnow().isoformat(), entries, saved, missing
            )
            archive.writestr(MANIFEST, json.dumps(asdict(manifest), indent=2))
    except BaseException:
        # No half-written archive to mistake for a backup.
        await asyncio.to_thread(path.unlink, missing_ok=True)
        raise
    return manifest


async def _dump(
    connection: AsyncConnection, table: Table, out: IO[bytes], progress: Progress | None
) -> TableEntry:
    stored = stored_form(table)
    digest, rows = hashlib.sha256(), 0
    result = await connection.stream(select(stored).order_by(*stored.primary_key.columns))
    async for partition in result.partitions(BATCH):
        chunk = b"".join(canonical(dict(row._mapping)) + b"\n" for row in partition)
        out.write(chunk)
        digest.update(chunk)
        rows += len(partition)
        if progress is not None:
            progress(table.name, len(partition))
    return TableEntry(table.name, rows, digest.hexdigest())


async def _save_files(
    archive: zipfile.ZipFile,
    root: Path,
    pinned: Sequence[Row[int, str, str, str]],
) -> tuple[list[PlaybookFile], list[MissingPlaybook]]:
    """Store each playbook's file once per content; a file the row's hash does not
    describe is recorded as missing, never stored in its place."""
    saved, missing, stored = [], [], set()
    for playbook_id, name, file_path, file_hash in pinned:
        relative = files.relative_to_root(root, file_path)
        content = await files.current_content(file_path)
        if relative is None:
            problem = f"is outside the playbook root {root}"
        elif content is None:
            problem = "is missing or unreadable"
        elif files.digest(content) != file_hash:
            problem = "changed since it was registered"
        else:
            entry = PlaybookFile(playbook_id, name, relative, file_hash)
            if entry.member not in stored:
                archive.writestr(entry.member, content)
                stored.add(entry.member)
            saved.append(entry)
            continue
        missing.append(MissingPlaybook(playbook_id, name, file_path, problem))
    return saved, missing


def read_manifest(path: Path) -> Manifest:
    try:
        with zipfile.ZipFile(path) as archive:
            return Manifest.parse(archive.read(MANIFEST))
    except (OSError, zipfile.BadZipFile, KeyError) as exc:
        raise BackupError(f"cannot read {path}: {type(exc).__name__}") from None


def verify(path: Path, manifest: Manifest, progress: Progress | None = None) -> None:
    """Every stream's row count and SHA-256 as the manifest says, and every playbook
    file fit to write, before any write."""
    known = {table.name for table in tables()}
    unknown = {entry.name for entry in manifest.tables} - known
    if unknown:
        raise BackupError(f"the archive holds tables this release does not know: {unknown}")
    with zipfile.ZipFile(path) as archive:
        for entry in manifest.tables:
            digest, rows = hashlib.sha256(), 0
            for line in _lines(archive, entry.name):
                digest.update(line)
                rows += 1
            if (rows, digest.hexdigest()) != (entry.rows, entry.sha256):
                raise BackupError(f"table {entry.name} does not match its checksum: corrupt")
            if progress is not None:
                progress("verify", 1)
        _verify_files(archive, manifest, progress)


def _verify_files(archive: zipfile.ZipFile, manifest: Manifest, progress: Progress | None) -> None:
    """Each file is the content its manifest entry and its playbook row pin, at a path
    that cannot leave the root; since version 2 every playbook row has an entry."""
    rows = map(json.loads, _playbook_rows(archive, manifest))
    pinned = {row["id"]: row["file_hash"] for row in rows}
    contents: dict[str, str] = {}
    for entry in manifest.playbook_files:
        if not files.plain_relative(entry.path):
            raise BackupError(f"playbook {entry.name!r}: unsafe path {entry.path!r} in the archive")
        if contents.setdefault(entry.path, entry.sha256) != entry.sha256:
            raise BackupError(f"the archive gives {entry.path} two different contents: corrupt")
        if pinned.get(entry.playbook_id) != entry.sha256:
            raise BackupError(f"playbook {entry.name!r}: its file is not the one its row pins")
    for entry in {entry.member: entry for entry in manifest.playbook_files}.values():
        if _member_digest(archive, entry.member) != entry.sha256:
            raise BackupError(
                f"playbook file {entry.path} does not match its SHA-256: corrupt or altered"
            )
        if progress is not None:
            progress("verify", 1)
    listed = {entry.playbook_id for entry in manifest.playbook_files}
    listed |= {missing.playbook_id for missing in manifest.missing_playbooks}
    if manifest.version >= 2 and (unlisted := pinned.keys() - listed):
        raise BackupError(f"playbooks {sorted(unlisted)} are not in the manifest: corrupt")


def _playbook_rows(archive: zipfile.ZipFile, manifest: Manifest) -> Iterator[bytes]:
    if any(entry.name == Playbook.__tablename__ for entry in manifest.tables):
        yield from _lines(archive, Playbook.__tablename__)


def _member_digest(archive: zipfile.ZipFile, member: str) -> str | None:
    try:
        return files.digest(archive.read(member))
    except KeyError:
        return None


def _lines(archive: zipfile.ZipFile, table: str) -> Iterator[bytes]:
    with archive.open(f"tables/{table}.jsonl") as stream:
        yield from stream


async def restore(
    engine: AsyncEngine,
    path: Path,
    playbook_root: Path,
    force: bool = False,
    progress: Progress | None = None,
) -> Manifest:
    manifest = read_manifest(path)
    head = migrations.head_revision()
    if manifest.schema_revision != head:
        raise BackupError(
            f"the archive is of schema {manifest.schema_revision}, this release is at {head}: "
            "restore with the release that wrote it, then upgrade"
        )
    verify(path, manifest, progress)
    root = await asyncio.to_thread(playbook_root.resolve)
    placing = await asyncio.to_thread(_placements, root, manifest)
    current = await migrations.current_revision(engine)
    if current is None:
        await migrations.upgrade(engine)
    elif current != head:
        raise BackupError(f"the target database is at schema {current}: upgrade it to {head}")
    made: list[Path] = []
    try:
        async with engine.begin() as connection:
            holding = await _tables_with_rows(connection)
            if holding and not force:
                raise BackupError(
                    f"the target database is not empty ({', '.join(holding)}): "
                    "restore into an empty database, or pass --force to replace its contents"
                )
            await _empty(connection)
            with zipfile.ZipFile(path) as archive:
                for entry in manifest.tables:
                    await _load(connection, archive, stored_form(Base.metadata.tables[entry.name]))
                    if progress is not None:
                        progress("restore", 1)
            await _repoint(connection, root, manifest)
            if connection.dialect.name == "postgresql":
                await _reset_sequences(connection)
            # Last, so that a refused or failed load has written no file at all.
            await asyncio.to_thread(_write_files, path, placing, made)
    except BaseException:
        await asyncio.to_thread(files.remove, made)
        raise
    return manifest


def _placements(root: Path, manifest: Manifest) -> dict[Path, PlaybookFile]:
    """Where each file goes under the root, leaving out those already there; refused
    when a symlink would lead one out of the root or another file holds its place."""
    placing: dict[Path, PlaybookFile] = {}
    for entry in manifest.playbook_files:
        target = files.destination(root, entry.path)
        if target is None:
            raise BackupError(
                f"playbook file {entry.path} would leave the playbook root {root} "
                "through a symlink there"
            )
        if not os.path.lexists(target):
            placing[target] = entry
        elif not files.holds(target, entry.sha256):
            raise BackupError(
                f"{target} already exists with other content than playbook {entry.name!r}'s: "
                "move it away, or restore under another playbook root"
            )
    return placing


def _write_files(path: Path, placing: dict[Path, PlaybookFile], made: list[Path]) -> None:
    """Write each file where ``_placements`` found its place free; ``made`` lists what
    was created so far, for the caller to take back if the restore fails."""
    with zipfile.ZipFile(path) as archive:
        for target, entry in placing.items():
            content = archive.read(entry.member)
            # Checked again: these bytes are what jobs will run.
            if files.digest(content) != entry.sha256:
                raise BackupError(f"playbook file {entry.path} changed in the archive: corrupt")
            try:
                files.create(target, content, made)
            except OSError as exc:
                raise BackupError(f"cannot write playbook file {target}: {exc}") from None


async def _repoint(connection: AsyncConnection, root: Path, manifest: Manifest) -> None:
    """Point each row whose file came along at where it now lies under ``root`` (a real
    path, as registration stores), through the stored form so that ``updated_at`` stays
    as it was backed up."""
    if not manifest.playbook_files:
        return
    playbooks = stored_form(Playbook.__table__)
    await connection.execute(
        update(playbooks)
        .where(playbooks.c.id == bindparam("playbook_id"))
        .values(file_path=bindparam("placed_at")),
        [
            {"playbook_id": entry.playbook_id, "placed_at": str(root / entry.path)}
            for entry in manifest.playbook_files
        ],
    )


async def _tables_with_rows(connection: AsyncConnection) -> list[str]:
    holding = []
    for table in tables():
        if table.name in REPLACED:
            continue
        if await connection.scalar(select(func.count()).select_from(table)):
            holding.append(table.name)
    return holding


async def _empty(connection: AsyncConnection) -> None:
    """Delete every row, dependents first; audit rows through the retention guard."""
    await connection.execute(insert(AuditPurgeGuard).values(id=1, started_at=utcnow()))
    for table in reversed(tables()):
        await connection.execute(delete(table))
    await connection.execute(delete(AuditPurgeGuard))


async def _load(connection: AsyncConnection, archive: zipfile.ZipFile, table: Table) -> None:
    decoders = {
        column.name: decode
        for column in table.columns
        if (decode := _decoder(column.type)) is not None
    }
    batch: list[dict[str, Any]] = []
    for line in _lines(archive, table.name):
        row = json.loads(line)
        for name, decode in decoders.items():
            if row.get(name) is not None:
                row[name] = decode(row[name])
        batch.append(row)
        if len(batch) == BATCH:
            await connection.execute(table.insert(), batch)
            batch = []
    if batch:
        await connection.execute(table.insert(), batch)


def _decoder(kind: Any) -> Callable[[str], Any] | None:
    if isinstance(kind, UTCDateTime):
        return datetime.fromisoformat
    if isinstance(kind, Uuid):
        return uuid.UUID
    return None


async def _reset_sequences(connection: AsyncConnection) -> None:
    """Rows came with their ids: move each id sequence past the largest one."""
    for table in tables():
        key = table.c.get("id")
        if key is None or not key.autoincrement or table.name in REPLACED:
            continue
        following = select(func.coalesce(func.max(key), 0) + 1).scalar_subquery()
        sequence = func.pg_get_serial_sequence(table.name, "id")
        await connection.execute(select(func.setval(sequence, following, False)))
