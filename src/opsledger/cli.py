"""The ``opsledger`` command: set up, migrate, seed and serve."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, TypeVar

import typer
import uvicorn
from pydantic import ValidationError
from rich.console import Console
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger import migrations
from opsledger.app import create_app
from opsledger.config import Settings, safe_url, write_key_file
from opsledger.db.engine import create_engine
from opsledger.db.session import session_factory, unit_of_work
from opsledger.host_roles.service import seed_defaults
from opsledger.security.crypto import KeyRingError

T = TypeVar("T")

cli = typer.Typer(
    help="opsledger: the system of record and control plane for infrastructure automation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_cli = typer.Typer(help="Schema migrations.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")

out = Console()
err = Console(stderr=True)

HostOption = Annotated[str | None, typer.Option(help="Address to listen on.")]
PortOption = Annotated[int | None, typer.Option(help="Port to listen on.", min=1, max=65535)]


class CommandFailed(Exception):
    """An expected failure: printed as one line, exit code 1."""


@contextmanager
def one_line_errors(settings: Settings | None = None) -> Iterator[None]:
    """Turn the failures a user can cause (bad settings, unreachable database, missing key)
    into one readable line and exit code 1, never a traceback."""
    where = f" ({safe_url(settings.database_url)})" if settings else ""
    try:
        yield
    except ValidationError as exc:
        problems = "; ".join(
            f"OPSLEDGER_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in exc.errors()
        )
        fail(f"invalid configuration: {problems}")
    except DBAPIError as exc:
        fail(f"database error{where}: {_first_line(exc.orig)}")
    except OSError as exc:
        fail(f"cannot reach the database{where}: {_first_line(exc)}")
    except (KeyRingError, CommandFailed) as exc:
        fail(str(exc))


def _first_line(exc: BaseException | None) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def fail(message: str) -> None:
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def load_settings() -> Settings:
    with one_line_errors():
        return Settings().with_key_file()
    raise AssertionError("unreachable")  # pragma: no cover - fail() always exits


def run(settings: Settings, work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    """Run ``work`` against a fresh engine for ``settings``, with one-line errors."""

    async def main() -> T:
        engine = create_engine(settings)
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    with one_line_errors(settings):
        return asyncio.run(main())
    raise AssertionError("unreachable")  # pragma: no cover


@db_cli.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Migrate the database up to REVISION (default: the newest)."""
    settings = load_settings()
    run(settings, lambda engine: migrations.upgrade(engine, revision))
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
            raise CommandFailed(
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


@cli.command()
def seed() -> None:
    """Create the default host roles that are missing (safe to re-run)."""
    settings = load_settings()
    created = run(settings, seed_database)
    out.print(f"seeded host roles: {', '.join(created) if created else 'none missing'}")


async def seed_database(engine: AsyncEngine) -> list[str]:
    async with unit_of_work(session_factory(engine)) as session:
        return await seed_defaults(session)


@cli.command()
def serve(host: HostOption = None, port: PortOption = None) -> None:
    """Serve the API on an already migrated database."""
    settings = load_settings()
    if not settings.has_encryption_key:
        fail(
            "no encryption key configured: set OPSLEDGER_ENCRYPTION_KEYS "
            f"or run `opsledger up` to generate {settings.key_file}"
        )
    start_server(settings, host, port)


@cli.command()
def up(host: HostOption = None, port: PortOption = None) -> None:
    """Set up and serve: generate a key if none is configured, migrate, seed, serve."""
    settings = load_settings()
    if not settings.has_encryption_key:
        with one_line_errors():
            write_key_file(settings.key_file)
        out.print(
            f"generated an encryption key and a token secret in {settings.key_file} "
            "(mode 0600): back it up, every encrypted value depends on it"
        )
        settings = load_settings()

    async def prepare(engine: AsyncEngine) -> list[str]:
        await migrations.upgrade(engine)
        return await seed_database(engine)

    created = run(settings, prepare)
    out.print(f"database ready at {safe_url(settings.database_url)}")
    if created:
        out.print(f"seeded host roles: {', '.join(created)}")
    start_server(settings, host, port)


def start_server(settings: Settings, host: str | None, port: int | None) -> None:
    host, port = host or settings.host, port or settings.port
    with one_line_errors(settings):
        app = create_app(settings)
    out.print(f"serving opsledger on http://{host}:{port}")
    uvicorn.run(app, host=host, port=port, log_level="info")


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    cli()
