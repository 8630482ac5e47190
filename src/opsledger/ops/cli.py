"""``opsledger keys``, ``retention``, ``backup``, ``restore`` and ``partitions``: the
commands that work on the whole database."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from cryptography.fernet import Fernet
from rich.progress import Progress
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.commands import (
    err,
    install_configured_keys,
    install_keys,
    load_settings,
    one_line_errors,
    out,
    run,
)
from opsledger.db.engine import reader
from opsledger.db.session import session_factory, unit_of_work
from opsledger.ops import backup, key_rotation, partitions, retention

keys_cli = typer.Typer(no_args_is_help=True)


@keys_cli.command("generate")
def generate() -> None:
    """Print a new Fernet key. Put it first in OPSLEDGER_ENCRYPTION_KEYS, then rotate."""
    out.print(Fernet.generate_key().decode(), highlight=False)


@keys_cli.command("rotate")
def rotate(
    batch: Annotated[int, typer.Option(min=1, max=10_000, help="Rows per transaction.")] = 500,
) -> None:
    """Re-encrypt every encrypted value under the newest key. Safe to stop and re-run.
    Afterwards the old keys decrypt nothing, but they still check the audit rows signed
    while they were newest: keep them in OPSLEDGER_ENCRYPTION_KEYS until retention has
    removed those rows (`opsledger audit verify` names a row whose key is gone)."""
    settings = load_settings()
    ring = install_keys(settings)

    async def rotate_all(engine: AsyncEngine) -> key_rotation.RotationReport:
        sessions = session_factory(engine)
        totals = await key_rotation.values_to_examine(sessions)
        with Progress(console=err, transient=True) as progress:
            tasks = {name: progress.add_task(name, total=count) for name, count in totals.items()}
            return await key_rotation.rotate_keys(
                sessions, settings, ring, batch, lambda name, n: progress.advance(tasks[name], n)
            )

    report = run(settings, rotate_all)
    for name, examined in report.examined.items():
        out.print(f"{name}: {report.rotated[name]} of {examined} values re-encrypted")


retention_cli = typer.Typer(no_args_is_help=True)


@retention_cli.command("run")
def run_retention(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count what would go.")] = False,
    batch: Annotated[
        int, typer.Option(min=1, max=1_000_000, help="Rows per transaction.")
    ] = 10_000,
    force: Annotated[
        bool, typer.Option("--force", help="Allow audit retention under 365 days.")
    ] = False,
) -> None:
    """Remove job output older than OPSLEDGER_LOG_RETENTION_DAYS and audit rows older
    than OPSLEDGER_AUDIT_RETENTION_DAYS, in batches; the audit chain stays verifiable."""
    settings = load_settings()
    install_configured_keys(settings)
    with one_line_errors(settings):
        limits = retention.cutoffs(settings, force)

    async def work(engine: AsyncEngine) -> dict[str, int]:
        sessions = session_factory(engine)
        async with unit_of_work(session_factory(reader(engine))) as session:
            due = await retention.preview(session, limits)
        if dry_run:
            return due
        with Progress(console=err, transient=True) as bar:
            tasks = {name: bar.add_task(name, total=count) for name, count in due.items()}
            return await retention.purge(
                sessions, settings, limits, batch, lambda name, n: bar.advance(tasks[name], n)
            )

    counts = run(settings, work)
    verb = "would remove" if dry_run else "removed"
    out.print(f"job_logs: {verb} {counts['job_logs']} lines older than {limits.job_logs:%Y-%m-%d}")
    out.print(
        f"audit_logs: {verb} {counts['audit_logs']} rows older than {limits.audit_logs:%Y-%m-%d}"
    )


def backup_command(
    file: Annotated[Path, typer.Argument(help="The archive to create (must not exist).")],
) -> None:
    """Write every table and every playbook's file (from OPSLEDGER_PLAYBOOK_ROOT) to a
    portable archive (JSON lines, checksummed), from one consistent snapshot; encrypted
    values stay ciphertext."""
    settings = load_settings()

    async def work(engine: AsyncEngine) -> backup.Manifest:
        with Progress(console=err, transient=True) as bar:
            tasks = {table.name: bar.add_task(table.name, total=None) for table in backup.tables()}
            return await backup.backup(
                engine, file, settings.playbook_root, lambda name, n: bar.advance(tasks[name], n)
            )

    manifest = run(settings, work)
    rows = sum(entry.rows for entry in manifest.tables)
    out.print(
        f"wrote {file}: {len(manifest.tables)} tables, {rows} rows, "
        f"{manifest.file_count()} playbook files, schema {manifest.schema_revision}",
        soft_wrap=True,
    )
    _warn(manifest)


def _warn(manifest: backup.Manifest) -> None:
    for warning in manifest.warnings():
        err.print(f"[yellow]warning:[/yellow] {warning}", highlight=False, soft_wrap=True)


def restore_command(
    file: Annotated[Path, typer.Argument(help="An archive written by `opsledger backup`.")],
    force: Annotated[
        bool, typer.Option("--force", help="Replace what the target database holds.")
    ] = False,
) -> None:
    """Restore an archive into an empty database of any backend, and its playbook files
    under OPSLEDGER_PLAYBOOK_ROOT, after checking its schema revision, every table's
    checksum and every file's SHA-256. The same encryption keys (and audit key) are needed
    to read its secrets and verify its audit chain afterwards."""
    settings = load_settings()

    async def work(engine: AsyncEngine) -> backup.Manifest:
        with Progress(console=err, transient=True) as bar:
            steps = {name: bar.add_task(name, total=None) for name in ("verify", "restore")}
            return await backup.restore(
                engine,
                file,
                settings.playbook_root,
                force,
                lambda name, n: bar.advance(steps[name], n),
            )

    manifest = run(settings, work, creates=True)
    rows = sum(entry.rows for entry in manifest.tables)
    out.print(
        f"restored {file}: {len(manifest.tables)} tables, {rows} rows, "
        f"{manifest.file_count()} playbook files under {settings.playbook_root}",
        soft_wrap=True,
    )
    _warn(manifest)


partitions_cli = typer.Typer(no_args_is_help=True)


@partitions_cli.command("ensure")
def ensure_partitions(
    months: Annotated[
        int, typer.Option(min=0, max=36, help="Months ahead of this one to create.")
    ] = partitions.MONTHS_AHEAD,
) -> None:
    """Create job_logs' and audit_logs' partitions for this month and the next MONTHS
    (safe to re-run). SQLite and MariaDB keep plain tables: nothing to do there."""
    settings = load_settings()

    async def work(engine: AsyncEngine) -> list[str] | None:
        async with engine.begin() as connection:
            if not partitions.supported(connection):
                return None
            return await partitions.ensure(connection, months)

    created = run(settings, work)
    if created is None:
        out.print("partitions are PostgreSQL-only: this database keeps plain tables")
    else:
        out.print(f"created: {', '.join(created)}" if created else "every partition exists")
