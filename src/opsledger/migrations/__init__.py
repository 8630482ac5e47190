"""Schema migrations: the programmatic face of Alembic used by the CLI and the tests.

Every function takes an async engine and runs Alembic on one of its connections, so the
same code path serves SQLite, PostgreSQL and MySQL/MariaDB, inside or outside an event loop.
"""

from __future__ import annotations

import sqlite3
from functools import cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.kit.errors import OperationFailed
from opsledger.ops.partitions import AUDIT_LOGS, is_partition

HERE = Path(__file__).parent


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def context_options(connection: Connection, metadata: MetaData) -> dict[str, Any]:
    """One configuration for migrating, writing revisions and detecting drift."""
    return {
        "target_metadata": metadata,
        "render_as_batch": connection.dialect.name == "sqlite",
        "compare_type": True,
        "compare_server_default": False,
        "user_module_prefix": "opsledger.db.types.",
        "include_object": _modelled,
    }


def _modelled(item: Any, name: str | None, kind: str, reflected: bool, compare_to: Any) -> bool:
    """Schema comparison leaves out what the models leave to PostgreSQL's partitioning on
    purpose: the monthly partitions, and audit_logs' unique hash spelled (hash, timestamp)
    there (see migration 0006)."""
    if kind == "table" and reflected and compare_to is None and is_partition(name or ""):
        return False
    return not (kind == "unique_constraint" and _with_partition_key(item, compare_to))


def _with_partition_key(*constraints: Any) -> bool:
    return any(
        constraint is not None
        and constraint.name == "uq_audit_logs_hash"
        and set(constraint.columns.keys()) == {"hash", AUDIT_LOGS.key}
        for constraint in constraints
    )


def configure_context(context: Any, connection: Connection, metadata: MetaData) -> None:
    context.configure(connection=connection, **context_options(connection, metadata))


@cache
def head_revision() -> str | None:
    """The newest revision this release ships (read once: it cannot change while running)."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def sqlite_unmigrated(database: Path) -> str | None:
    """Why the SQLite file ``database`` holds no migrated schema, or None when it does.
    Read-only: a missing file is not created, an empty one is not written (the engine
    would switch it to WAL)."""
    if not database.exists():
        return f"no database at {database}"
    try:
        connection = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)
        try:
            migrated = connection.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
            ).fetchone()
            revision = (
                migrated
                and connection.execute("SELECT version_num FROM alembic_version").fetchone()
            )
        finally:
            connection.close()
    except sqlite3.Error as exc:
        return f"cannot read {database} as a SQLite database ({exc})"
    if not revision:
        return f"{database} holds no migrated schema (no alembic_version)"
    return None


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    async with engine.begin() as connection:
        await connection.run_sync(lambda c: command.upgrade(alembic_config(c), revision))


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    def run(connection: Connection) -> None:
        refuse_unkeying(connection, revision)
        command.downgrade(alembic_config(connection), revision)

    async with engine.begin() as connection:
        await connection.run_sync(run)


KEYED = "0011"


def refuse_unkeying(connection: Connection, target: str) -> None:
    """Refuse, before any step runs, a downgrade that would undo the keyed audit chain
    (revision 0011) while signed rows exist: older revisions would report each of them as
    tampered with. Up front, because MySQL/MariaDB commit each DDL statement at once: a
    refusal half way down would leave the later steps undone."""
    script = ScriptDirectory.from_config(alembic_config(connection))
    current = MigrationContext.configure(connection).get_current_revision()
    if current is None:
        return
    undone = {step.revision for step in script.iterate_revisions(current, target)}
    if KEYED not in undone or target == KEYED:
        return
    signed = connection.scalar(text("SELECT count(*) FROM audit_logs WHERE key_id IS NOT NULL"))
    if signed:
        raise OperationFailed(
            f"cannot downgrade below revision {KEYED}: {signed} audit rows are signed "
            "(HMAC-SHA256), and older revisions would report each of them as tampered with"
        )


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        return await connection.run_sync(
            lambda c: MigrationContext.configure(c).get_current_revision()
        )


async def drift(engine: AsyncEngine) -> list[Any]:
    """Differences between the models and the migrated database (empty when in sync)."""
    from opsledger.models import metadata

    def compare(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts=context_options(connection, metadata))
        return list(compare_metadata(context, metadata))

    async with engine.connect() as connection:
        return await connection.run_sync(compare)


def write_revision(message: str, autogenerate: bool, connection: Connection) -> None:
    command.revision(alembic_config(connection), message=message, autogenerate=autogenerate)
