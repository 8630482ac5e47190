"""The baseline migration builds the whole schema on every backend and takes it down again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger import migrations
from opsledger.db.engine import create_engine
from opsledger.models import metadata
from opsledger.ops.partitions import is_partition
from tests.conftest import fresh_database, settings_for
from tests.databases import drop_database

EXPECTED_TABLES = {
    "users",
    "api_keys",
    "secrets",
    "host_roles",
    "hosts",
    "credentials",
    "infrastructure",
    "applications",
    "playbooks",
    "jobs",
    "job_logs",
    "tickets",
    "deployments",
    "deployment_replicas",
    "deployment_resources",
    "deployment_status_history",
    "monitoring_alerts",
    "audit_logs",
    "audit_chain",
    "audit_purge_guard",
    "revoked_tokens",
}


@pytest.fixture
async def empty_engine(backend: str, sqlite_dir: Path) -> AsyncIterator[AsyncEngine]:
    url = await fresh_database(backend, "migrate", sqlite_dir)
    engine = create_engine(settings_for(url))
    yield engine
    await engine.dispose()
    await drop_database(backend, url)


async def table_names(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        names = await connection.run_sync(lambda c: inspect(c).get_table_names())
    return {name for name in names if not is_partition(name)} - {"alembic_version"}


def test_the_models_define_exactly_the_designed_tables() -> None:
    assert set(metadata.tables) == EXPECTED_TABLES


async def test_upgrade_downgrade_and_upgrade_again(empty_engine: AsyncEngine) -> None:
    await migrations.upgrade(empty_engine)
    assert await table_names(empty_engine) == EXPECTED_TABLES
    assert await migrations.current_revision(empty_engine) == migrations.head_revision()
    assert await migrations.drift(empty_engine) == []

    await migrations.downgrade(empty_engine, "base")
    assert await table_names(empty_engine) == set()
    assert await migrations.current_revision(empty_engine) is None

    await migrations.upgrade(empty_engine)
    assert await table_names(empty_engine) == EXPECTED_TABLES
    assert await migrations.drift(empty_engine) == []


async def test_drift_names_what_the_database_lacks(empty_engine: AsyncEngine) -> None:
    await migrations.upgrade(empty_engine)
    async with empty_engine.begin() as connection:
        if connection.dialect.name == "mysql":
            await connection.execute(text("DROP INDEX ix_hosts_status ON hosts"))
        else:
            await connection.execute(text("DROP INDEX ix_hosts_status"))

    differences = await migrations.drift(empty_engine)

    assert [d[0] for d in differences] == ["add_index"]
    assert differences[0][1].name == "ix_hosts_status"


async def add_user(engine: AsyncEngine, username: str) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO users (username, email, password_hash, role, is_active, "
                "token_version, created_at, updated_at) VALUES (:name, :email, 'x', 'viewer', "
                "TRUE, 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ),
            {"name": username, "email": f"{username}@example.com"},
        )


async def test_usernames_become_canonical_and_compare_exactly(empty_engine: AsyncEngine) -> None:
    await migrations.upgrade(empty_engine, "0007")
    await add_user(empty_engine, "Alice")

    await migrations.upgrade(empty_engine, "0008")

    async with empty_engine.connect() as connection:
        names = (await connection.execute(text("SELECT username FROM users"))).scalars().all()
        spelled = await connection.execute(
            text("SELECT COUNT(*) FROM users WHERE username IN ('ALICE', 'alice ', 'álice')")
        )
        assert spelled.scalar() == 0  # MariaDB too: compared byte for byte
    assert names == ["alice"]


# MariaDB's case-insensitive unique index never let both exist.
@pytest.mark.backends("sqlite", "postgresql")
async def test_names_differing_only_in_case_stop_the_migration(
    empty_engine: AsyncEngine,
) -> None:
    await migrations.upgrade(empty_engine, "0007")
    await add_user(empty_engine, "Bob")
    await add_user(empty_engine, "bob")

    with pytest.raises(RuntimeError, match="bob"):
        await migrations.upgrade(empty_engine, "0008")
