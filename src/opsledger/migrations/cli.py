"""``opsledger db …``: migrate the schema, report its revision and any drift."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger import migrations
from opsledger.commands import err, load_settings, out, run
from opsledger.config import safe_url
from opsledger.kit.errors import OperationFailed

db_cli = typer.Typer(no_args_is_help=True)


@db_cli.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Migrate the database up to REVISION (default: the newest)."""
    settings = load_settings()
    run(settings, lambda engine: migrations.upgrade(engine, revision), creates=True)
    out.print(f"database at revision {revision} ({safe_url(settings.database_url)})")


@db_cli.command("downgrade")
def db_downgrade(revision: str) -> None:
    """Migrate the database down to REVISION (``base`` removes every table)."""
    settings = load_settings()
    run(settings, lambda engine: migrations.downgrade(engine, revision))
    out.print(f"database at revision {revision} ({safe_url(settings.database_url)})")


@db_cli.command("current")
def db_current() -> None:
    """Print the database's revision and the newest one available."""
    settings = load_settings()
    current = run(settings, migrations.current_revision)
    out.print(f"current: {current or 'none (empty database)'}")
    out.print(f"head:    {migrations.head_revision()}")


@db_cli.command("check")
def db_check() -> None:
    """Exit 1 and show the differences when the models and the migrated schema disagree."""
    settings = load_settings()

    async def check(engine: AsyncEngine) -> list[object]:
        current = await migrations.current_revision(engine)
        if current != migrations.head_revision():
            raise OperationFailed(
                f"database is at revision {current or 'none'}, not "
                f"{migrations.head_revision()}: run `opsledger db upgrade`"
            )
        return await migrations.drift(engine)

    differences = run(settings, check)
    if differences:
        err.print("[red]the models and the migrations disagree:[/red]")
        for difference in differences:
            err.print(f"  {difference}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    out.print("no drift: the database matches the models")


@db_cli.command("revision")
def db_revision(
    message: Annotated[str, typer.Option("-m", "--message", help="What changes and why.")],
    empty: Annotated[bool, typer.Option(help="Write an empty revision to fill by hand.")] = False,
) -> None:
    """Write a new migration from the difference between the models and the database."""
    settings = load_settings()

    async def write(engine: AsyncEngine) -> None:
        async with engine.begin() as connection:
            await connection.run_sync(lambda c: migrations.write_revision(message, not empty, c))

    run(settings, write)
