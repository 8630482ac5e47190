"""Test databases on the three backends: created fresh per test session, dropped after."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from opsledger.config import normalize_database_url

ALL_BACKENDS = ("sqlite", "postgresql", "mariadb")

# Where the machine's servers listen; each test session makes its own databases there.
SERVER_URLS = {
    "postgresql": os.environ.get(
        "OPSLEDGER_TEST_POSTGRESQL_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
    ),
    "mariadb": os.environ.get(
        "OPSLEDGER_TEST_MARIADB_URL", "mysql+asyncmy://root@127.0.0.1:3306/test"
    ),
}


def selected_backends() -> list[str]:
    raw = os.environ.get("OPSLEDGER_TEST_BACKENDS", ",".join(ALL_BACKENDS))
    names = [name.strip() for name in raw.split(",") if name.strip()]
    unknown = set(names) - set(ALL_BACKENDS)
    if unknown:
        raise ValueError(f"OPSLEDGER_TEST_BACKENDS names unknown backends: {sorted(unknown)}")
    return names


def backends_required() -> bool:
    """In CI a backend that cannot be reached fails the run instead of being skipped."""
    flag = os.environ.get("OPSLEDGER_TEST_REQUIRE_BACKENDS", "")
    return flag.lower() in ("1", "true", "yes")


async def create_database(backend: str, name: str, sqlite_dir: Path) -> str:
    """Create an empty database called ``name`` and return its async URL."""
    if backend == "sqlite":
        path = sqlite_dir / f"{name}.db"
        for leftover in sqlite_dir.glob(f"{name}.db*"):
            leftover.unlink()
        return f"sqlite+aiosqlite:///{path}"
    server = normalize_database_url(SERVER_URLS[backend])
    admin = create_async_engine(server, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            if backend == "postgresql":
                await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                await connection.execute(text(f'CREATE DATABASE "{name}"'))
            else:
                await connection.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
                await connection.execute(
                    text(
                        f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                    )
                )
    finally:
        await admin.dispose()
    return make_url(server).set(database=name).render_as_string(hide_password=False)


# Backends that copy a migrated database faster than they migrate a new one: PostgreSQL
# from a template (0.15 s against 1.2 s), SQLite by copying the file. MariaDB has no
# template database; there each copy is migrated.
COPIES = ("sqlite", "postgresql")


async def copy_database(backend: str, template_url: str, name: str, sqlite_dir: Path) -> str:
    """A new database called ``name`` holding what the template database holds (no one
    may be connected to the template), and its async URL."""
    url = await create_database(backend, name, sqlite_dir)
    if backend == "sqlite":
        shutil.copyfile(str(make_url(template_url).database), str(make_url(url).database))
        return url
    template = make_url(template_url).database
    admin = create_async_engine(
        normalize_database_url(SERVER_URLS[backend]), isolation_level="AUTOCOMMIT"
    )
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    finally:
        await admin.dispose()
    return url


async def drop_database(backend: str, url: str) -> None:
    if backend == "sqlite":
        return
    name = make_url(url).database
    admin = create_async_engine(
        normalize_database_url(SERVER_URLS[backend]), isolation_level="AUTOCOMMIT"
    )
    try:
        async with admin.connect() as connection:
            if backend == "postgresql":
                await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            else:
                await connection.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
    finally:
        await admin.dispose()
