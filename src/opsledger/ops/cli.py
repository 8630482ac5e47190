"""``opsledger keys …``: generate a key and rotate every encrypted value onto it."""

from __future__ import annotations

from typing import Annotated

import typer
from cryptography.fernet import Fernet
from rich.progress import Progress
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.db.session import session_factory
from opsledger.kit.cli import err, install_keys, load_settings, out, run
from opsledger.ops import service

keys_cli = typer.Typer(help="Field-encryption keys.", no_args_is_help=True)


@keys_cli.command("generate")
def generate() -> None:
    """Print a new Fernet key. Put it first in OPSLEDGER_ENCRYPTION_KEYS, then rotate."""
    out.print(Fernet.generate_key().decode(), highlight=False)


@keys_cli.command("rotate")
def rotate(
    batch: Annotated[int, typer.Option(min=1, max=10_000, help="Rows per transaction.")] = 500,
) -> None:
    """Re-encrypt every encrypted value under the newest key. Safe to stop and re-run;
    afterwards the old keys can be dropped from OPSLEDGER_ENCRYPTION_KEYS."""
    settings = load_settings()
    ring = install_keys(settings)

    async def rotate_all(engine: AsyncEngine) -> service.RotationReport:
        sessions = session_factory(engine)
        totals = await service.values_to_examine(sessions)
        with Progress(console=err, transient=True) as progress:
            tasks = {name: progress.add_task(name, total=count) for name, count in totals.items()}
            return await service.rotate_keys(
                sessions, settings, ring, batch, lambda name, n: progress.advance(tasks[name], n)
            )

    report = run(settings, rotate_all)
    for name, examined in report.examined.items():
        out.print(f"{name}: {report.rotated[name]} of {examined} values re-encrypted")
