"""``opsledger up``, ``serve``, ``seed`` and ``worker``: set a database up and serve it,
or run jobs from the queue."""

from __future__ import annotations

from typing import Annotated, Any

import typer
import uvicorn
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger import migrations
from opsledger.app import create_app
from opsledger.commands import fail, install_keys, load_settings, one_line_errors, out, run
from opsledger.config import JobBackend, Settings, safe_url, write_key_file
from opsledger.db.engine import sqlite_file
from opsledger.db.session import session_factory, unit_of_work
from opsledger.host_roles.service import seed_defaults
from opsledger.kit.head_deadline import HeadDeadlineProtocol
from opsledger.notifications import service as notifications
from opsledger.security.context import cli_context
from opsledger.users import service as users
from opsledger.worker import sandbox
from opsledger.worker.tasks import worker_app

HostOption = Annotated[str | None, typer.Option(help="Address to listen on.")]
PortOption = Annotated[int | None, typer.Option(help="Port to listen on.", min=1, max=65535)]
WorkersOption = Annotated[
    int | None, typer.Option(help="Server processes (default 1).", min=1, max=64)
]
FIRST_ADMIN_EMAIL = "admin@example.com"


def seed() -> None:
    """Create the default host roles that are missing (safe to re-run)."""
    settings = load_settings()
    created = run(settings, seed_database)
    out.print(f"seeded host roles: {', '.join(created) if created else 'none missing'}")


async def seed_database(engine: AsyncEngine) -> list[str]:
    async with unit_of_work(session_factory(engine)) as session:
        return await seed_defaults(session)


def serve(host: HostOption = None, port: PortOption = None, workers: WorkersOption = None) -> None:
    """Serve the API on an already migrated database."""
    settings = load_settings()
    if not settings.has_encryption_key or settings.jwt_secret is None:
        fail(
            "no encryption key or token secret configured: set OPSLEDGER_ENCRYPTION_KEYS and "
            f"OPSLEDGER_JWT_SECRET, or run `opsledger up` to generate {settings.key_file}"
        )
    # Another command may have left an empty file behind (or someone a 0-byte one):
    # serving it would answer 500 to everything until migrated.
    database = sqlite_file(settings.database_url)
    if database is not None and (why := migrations.sqlite_unmigrated(database)) is not None:
        fail(
            f"{why}: `opsledger up` sets one up, or `opsledger db upgrade` (serve only "
            "starts on a migrated database)"
        )
    start_server(settings, host, port, workers)


def up(host: HostOption = None, port: PortOption = None, workers: WorkersOption = None) -> None:
    """Set up and serve: generate secrets if none are configured, migrate, seed the host
    roles, create the first admin when there is none, give each notification channel
    without a rule the default rules, and serve."""
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
    try:
        if sandbox.create_runner_user(settings):
            out.print(
                f"created the system user {settings.runner_user}: opsledger runs as root, "
                "so playbooks run as that user, in the job sandbox"
            )
    except sandbox.SandboxError as exc:
        fail(str(exc))

    async def prepare(engine: AsyncEngine) -> tuple[list[str], str | None, list[str]]:
        await migrations.upgrade(engine)
        async with unit_of_work(session_factory(engine)) as session:
            ctx = cli_context(session, settings)
            roles = await seed_defaults(session)
            password = await users.ensure_first_admin(ctx, FIRST_ADMIN_EMAIL)
            told = await notifications.add_default_rules(ctx)
        return roles, password, told

    created, admin_password, told = run(settings, prepare, creates=True)
    out.print(f"database ready at {safe_url(settings.database_url)}")
    if created:
        out.print(f"seeded host roles: {', '.join(created)}")
    if told:
        out.print(f"added the default notification rules to channels: {', '.join(told)}")
    if admin_password:
        out.print(
            f"created the first admin: username [bold]{users.FIRST_ADMIN}[/bold], password "
            f"[bold]{admin_password}[/bold] (shown once: change it after signing in)",
            highlight=False,
        )
    start_server(settings, host, port, workers)


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
    warn_if_jobs_cannot_run(settings)
    argv = ["worker", "--loglevel=INFO", f"--queues={settings.celery_queue}", "--without-gossip"]
    if concurrency is not None:
        argv.append(f"--concurrency={concurrency}")
    out.print(f"opsledger worker: queue {settings.celery_queue} on {safe_url(settings.redis_url)}")
    worker_app(settings).worker_main(argv)


def warn_if_jobs_cannot_run(settings: Settings) -> None:
    """Say at start, not at the first job, when playbooks cannot run here (each job that
    tries fails with the same reason)."""
    reason = sandbox.problem(settings)
    if reason is not None:
        out.print(f"[yellow]warning:[/yellow] jobs will fail until fixed: {reason}")


def start_server(
    settings: Settings, host: str | None, port: int | None, workers: int | None
) -> None:
    host, port, workers = host or settings.host, port or settings.port, workers or settings.workers
    with one_line_errors(settings):
        app = create_app(settings)
    if settings.job_backend is JobBackend.embedded and settings.job_concurrency > 0:
        warn_if_jobs_cannot_run(settings)
    out.print(f"serving opsledger on http://{host}:{port} ({workers} process(es))")
    # Forwarded headers only from the configured proxies (uvicorn's default believes any
    # from 127.0.0.1); a connection limit per process; idle connections closed after 5 s,
    # a request head due within 10 s (head_deadline), a body within its limits (kit.limits).
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": "info",
        "http": HeadDeadlineProtocol,
        "proxy_headers": bool(settings.trusted_proxies),
        "forwarded_allow_ips": settings.trusted_proxies,
        "limit_concurrency": settings.max_connections,
        "timeout_keep_alive": 5,
        "server_header": False,
    }
    if workers == 1:
        uvicorn.run(app, **options)
    else:
        # Each worker builds its own app from the same environment and key file.
        uvicorn.run("opsledger.app:create_app", factory=True, workers=workers, **options)
