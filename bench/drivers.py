"""What the benchmarks share: raw driver connections for the baselines, and a job to
attach log lines to. Imported by the scripts beside it (run them from the repo root)."""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.config import normalize_database_url
from opsledger.db.session import session_factory, unit_of_work
from opsledger.hosts.models import Host
from opsledger.jobs.models import Job
from opsledger.playbooks.models import Playbook
from opsledger.users.models import User, UserRole


async def asyncpg_connection(url: str) -> Any:
    import asyncpg

    parsed = make_url(url)
    return await asyncpg.connect(
        host=parsed.host,
        port=parsed.port or 5432,
        user=parsed.username,
        password=parsed.password,
        database=parsed.database,
    )


async def asyncmy_connection(url: str) -> Any:
    import asyncmy

    parsed = make_url(url)
    return await asyncmy.connect(
        host=parsed.host,
        port=parsed.port or 3306,
        user=parsed.username,
        password=parsed.password or "",
        database=parsed.database,
    )


async def new_job(engine: AsyncEngine) -> tuple[int, int, datetime]:
    """A job (with its own viewer, host and playbook): (job id, user id, created_at)."""
    async with unit_of_work(session_factory(engine)) as session:
        stamp = time.time_ns()
        user = User(
            username=f"b{stamp}",
            email=f"b{stamp}@example.com",
            password_hash="$2b$12$unused",
            role=UserRole.viewer,
        )
        host = Host(hostname=f"bench-{stamp}", ip_address="192.0.2.1", os_type="debian")
        playbook = Playbook(name=f"bench-{stamp}", file_path="site.yml", file_hash="0" * 64)
        session.add_all([user, host, playbook])
        await session.flush()
        job = Job(playbook_id=playbook.id, host_id=host.id, user_id=user.id)
        session.add(job)
        await session.flush()
        return job.id, user.id, job.created_at


def command_line(doc: str | None, url_help: str = "a database") -> argparse.ArgumentParser:
    """A benchmark's options, starting with ``--url``."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--url", help=f"{url_help} (default: a temporary SQLite file)")
    return parser


def run_against(url: str | None, main: Callable[..., Awaitable[None]], *args: Any) -> None:
    """``main(database_url, *args)`` on ``url``, or on a SQLite file in a temporary
    directory that is removed afterwards."""
    with tempfile.TemporaryDirectory() as scratch:
        database = normalize_database_url(url or f"sqlite:///{Path(scratch) / 'bench.db'}")
        asyncio.run(main(database, *args))
