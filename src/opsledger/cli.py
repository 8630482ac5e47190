"""The ``opsledger`` command: set up, migrate, seed and serve; domain commands hang off it."""

from __future__ import annotations

import logging
from typing import Annotated

import typer
import uvicorn
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger import migrations
from opsledger.app import create_app
from opsledger.audit.cli import audit_cli
from opsledger.config import JobBackend, Settings, safe_url, write_key_file
from opsledger.db.session import session_factory, unit_of_work
from opsledger.host_roles.service import seed_defaults
from opsledger.hosts.cli import hosts_cli
from opsledger.jobs.cli import jobs_cli
from opsledger.jobs.tasks import worker_app
from opsledger.kit.cli import (
    CommandFailed,
    err,
    fail,
    install_keys,
    load_settings,
    one_line_errors,
    out,
    run,
)
from opsledger.ops.cli import (
    backup_command,
    keys_cli,
    partitions_cli,
    restore_command,
    retention_cli,
)
from opsledger.security.context import cli_context
from opsledger.stats.cli import show_stats
from opsledger.users import service as users
from opsledger.users.cli import import_cli, users_cli

cli = typer.Typer(
    help="opsledger: the system of record and control plane for infrastructure automation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_cli = typer.Typer(help="Schema migrations.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")
cli.add_typer(users_cli, name="users")
cli.add_typer(import_cli, name="import")
cli.add_typer(keys_cli, name="keys")
cli.add_typer(retention_cli, name="retention")
cli.add_typer(partitions_cli, name="partitions")
cli.add_typer(audit_cli, name="audit")
cli.add_typer(hosts_cli, name="hosts")
cli.add_typer(jobs_cli, name="jobs")
cli.command("stats")(show_stats)
cli.command("backup")(backup_command)
cli.command("restore")(restore_command)

HostOption = Annotated[str | None, typer.Option(help="Address to listen on.")]
PortOption = Annotated[int | None, typer.Option(help="Port to listen on.", min=1, max=65535)]
WorkersOption = Annotated[
    int | None, typer.Option(help="Server processes (default 1).", min=1, max=64)
]
FIRST_ADMIN_EMAIL = "admin@example.com"


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
def serve(host: HostOption = None, port: PortOption = None, workers: WorkersOption = None) -> None:
    """Serve the API on an already migrated database."""
    settings = load_settings()
    if not settings.has_encryption_key or settings.jwt_secret is None:
        fail(
            "no encryption key or token secret configured: set OPSLEDGER_ENCRYPTION_KEYS and "
            f"OPSLEDGER_JWT_SECRET, or run `opsledger up` to generate {settings.key_file}"
        )
    start_server(settings, host, port, workers)


@cli.command()
def up(host: HostOption = None, port: PortOption = None, workers: WorkersOption = None) -> None:
    """Set up and serve: generate secrets if none are configured, migrate, seed the host
    roles, create the first admin when there is none, and serve."""
    settings = load_settings()
    if not settings.has_encryption_key or settings.jwt_secret is None:
        if settings.key_file.exists():
            fail(
                f"{settings.key_file} exists but lacks a key or token secret: "
                "set them in the environment or remove the file to generate new ones"
            )
        with one_line_errors():
            write_key_file(settings.key_file)
        out.print(
            f"generated an encryption key and a token secret in {settings.key_file} "
            "(mode 0600): back it up, every encrypted value depends on it"
        )
        settings = load_settings()
    install_keys(settings)

    async def prepare(engine: AsyncEngine) -> tuple[list[str], str | None]:
        await migrations.upgrade(engine)
        async with unit_of_work(session_factory(engine)) as session:
            ctx = cli_context(session, settings)
            roles = await seed_defaults(session)
            password = await users.ensure_first_admin(ctx, FIRST_ADMIN_EMAIL)
        return roles, password

    created, admin_password = run(settings, prepare)
    out.print(f"database ready at {safe_url(settings.database_url)}")
    if created:
        out.print(f"seeded host roles: {', '.join(created)}")
    if admin_password:
        out.print(
            f"created the first admin: username [bold]{users.FIRST_ADMIN}[/bold], password "
            f"[bold]{admin_password}[/bold] (shown once: change it after signing in)",
            highlight=False,
        )
    start_server(settings, host, port, workers)


@cli.command()
def worker(
    concurrency: Annotated[
        int | None, typer.Option(help="Jobs run at once (default: CPU count).", min=1, max=256)
    ] = None,
) -> None:
    """Run jobs from the Celery queue (OPSLEDGER_JOB_BACKEND=celery) until stopped."""
    settings = load_settings()
    if settings.job_backend is not JobBackend.celery:
        fail(
            "OPSLEDGER_JOB_BACKEND is not celery: with the embedded backend jobs run inside "
            "`opsledger serve`, no worker is needed"
        )
    install_keys(settings)
    argv = ["worker", "--loglevel=INFO", f"--queues={settings.celery_queue}", "--without-gossip"]
    if concurrency is not None:
        argv.append(f"--concurrency={concurrency}")
    out.print(f"opsledger worker: queue {settings.celery_queue} on {safe_url(settings.redis_url)}")
    worker_app(settings).worker_main(argv)


def start_server(
    settings: Settings, host: str | None, port: int | None, workers: int | None
) -> None:
    host, port, workers = host or settings.host, port or settings.port, workers or settings.workers
    with one_line_errors(settings):
        app = create_app(settings)
    out.print(f"serving opsledger on http://{host}:{port} ({workers} process(es))")
    if workers == 1:
        uvicorn.run(app, host=host, port=port, log_level="info")
    else:
        # Each worker builds its own app from the same environment and key file.
        uvicorn.run(
            "opsledger.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="info",
        )


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    cli()
