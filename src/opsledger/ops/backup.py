"""Backup and restore: one portable archive for every backend.

The archive is a ZIP file: ``manifest.json`` (format, schema revision, and per table its
row count and the SHA-256 of its stream) and one deflate-compressed JSON-lines stream
per table, in foreign-key dependency order, one canonical JSON object per row (sorted
keys, UTC ISO-8601 times). Encrypted columns are copied as their ciphertext: a backup
holds no plaintext secret, and a restore needs the same encryption keys. The dump reads
one snapshot (a single repeatable-read transaction), so it is consistent while the
server keeps running.

A restore checks the format, the schema revision (it must be this release's) and every
table's checksum before it writes anything, migrates the target to that revision, and
refuses a target that already holds data unless forced (which empties it first)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import IO, Any

from sqlalchemy import (
    Column,
    MetaData,
    Table,
    Text,
    Uuid,
    delete,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from opsledger import migrations
from opsledger.audit.models import AuditPurgeGuard
from opsledger.db.base import Base, utcnow
from opsledger.db.engine import snapshot
from opsledger.db.types import EncryptedString, UTCDateTime
from opsledger.kit.errors import OperationFailed

FORMAT = "opsledger-backup"
VERSION = 1
MANIFEST = "manifest.json"
BATCH = 1000
# Empty outside a retention purge's own transaction.
SKIPPED = frozenset({AuditPurgeGuard.__tablename__})
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
class Manifest:
    format: str
    version: int
    schema_revision: str | None
    created_at: str
    tables: list[TableEntry]

    @classmethod
    def parse(cls, data: bytes) -> Manifest:
        try:
            fields = json.loads(data)
            tables = [TableEntry(**entry) for entry in fields.pop("tables")]
            manifest = cls(tables=tables, **fields)
        except (ValueError, TypeError, KeyError) as exc:
            raise BackupError(f"not an opsledger backup: {MANIFEST} is unreadable") from exc
        if manifest.format != FORMAT or manifest.version != VERSION:
            raise BackupError(
                f"unsupported archive: {manifest.format} version {manifest.version} "
                f"(this release reads {FORMAT} version {VERSION})"
            )
        return manifest


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


async def backup(engine: AsyncEngine, path: Path, progress: Progress | None = None) -> Manifest:
    """Write every table to a new archive at ``path`` from one consistent snapshot."""
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
            manifest = Manifest(FORMAT, VERSION, revision, utcnow().isoformat(), entries)
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


def read_manifest(path: Path) -> Manifest:
    try:
        with zipfile.ZipFile(path) as archive:
            return Manifest.parse(archive.read(MANIFEST))
    except (OSError, zipfile.BadZipFile, KeyError) as exc:
        raise BackupError(f"cannot read {path}: {type(exc).__name__}") from None


def verify(path: Path, manifest: Manifest, progress: Progress | None = None) -> None:
    """Every stream's row count and SHA-256 as the manifest says, before any write."""
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


def _lines(archive: zipfile.ZipFile, table: str) -> Iterator[bytes]:
    with archive.open(f"tables/{table}.jsonl") as stream:
        yield from stream


async def restore(
    engine: AsyncEngine, path: Path, force: bool = False, progress: Progress | None = None
) -> Manifest:
    manifest = read_manifest(path)
    head = migrations.head_revision()
    if manifest.schema_revision != head:
        raise BackupError(
            f"the archive is of schema {manifest.schema_revision}, this release is at {head}: "
            "restore with the release that wrote it, then upgrade"
        )
    verify(path, manifest, progress)
    current = await migrations.current_revision(engine)
    if current is None:
        await migrations.upgrade(engine)
    elif current != head:
        raise BackupError(f"the target database is at schema {current}: upgrade it to {head}")
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
        if connection.dialect.name == "postgresql":
            await _reset_sequences(connection)
    return manifest


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
