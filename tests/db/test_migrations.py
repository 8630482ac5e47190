"""The baseline migration builds the whole schema on every backend and takes it down again;
an audit chain written before it was keyed migrates as it is and verifies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger import migrations
from opsledger.audit.keys import AuditKeys
from opsledger.config import Settings
from opsledger.db.engine import create_engine
from opsledger.kit.errors import OperationFailed
from opsledger.models import AuditChain, AuditLog, metadata
from opsledger.ops.partitions import is_partition
from tests.api import ENCRYPTION_KEY
from tests.audit.chains import append_rows, forge, verify, write_unkeyed_rows
from tests.conftest import fresh_database, settings_for
from tests.databases import drop_database
from tests.e2e.cli import opsledger

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
    "job_templates",
    "runs",
    "job_tasks",
    "host_locks",
    "schedules",
    "schedule_fires",
    "freeze_windows",
    "triggers",
    "trigger_deliveries",
    "notification_channels",
    "notification_rules",
    "notification_deliveries",
    "notification_attempts",
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


async def test_a_chain_from_before_keying_verifies_as_unkeyed_rows_then_signed_ones(
    empty_engine: AsyncEngine, backend: str, tmp_path: Path
) -> None:
    await migrations.upgrade(empty_engine, "0007")
    unkeyed = await write_unkeyed_rows(empty_engine, 3)
    await migrations.upgrade(empty_engine)
    await append_rows(empty_engine, 2)

    result = await verify(empty_engine)
    url = empty_engine.url.render_as_string(hide_password=False)
    command = opsledger(
        "audit", "verify", cwd=tmp_path, database_url=url, encryption_keys=ENCRYPTION_KEY
    )

    key_id = AuditKeys.configured(Settings()).signing.key_id
    async with empty_engine.connect() as connection:
        legacy_head = await connection.scalar(select(AuditChain.legacy_head_id))
        statement = select(AuditLog.id, AuditLog.key_id, AuditLog.prev_hash, AuditLog.hash)
        rows = (await connection.execute(statement.order_by(AuditLog.id))).all()
    assert legacy_head == unkeyed[-1]
    assert [row.key_id for row in rows] == [None, None, None, key_id, key_id]
    assert rows[3].prev_hash == rows[2].hash
    assert result.broken is None
    assert (result.rows, result.unkeyed_rows) == (5, 3)
    assert [(use.key_id, use.rows) for use in result.keys] == [(key_id, 2)]
    assert command.returncode == 0, command.stderr
    assert "audit chain intact: 5 rows verified" in command.stdout
    assert "unkeyed, from before the chain was keyed (plain SHA-256): 3" in command.stdout
    assert f"signed by audit key {key_id} (signs new rows): 2" in command.stdout

    await forge(empty_engine, backend, rows[3].id, None, None)
    passed_off = await verify(empty_engine)

    assert passed_off.broken is not None
    assert passed_off.broken.row_id == rows[3].id
    assert "no key_id" in passed_off.broken.reason


async def test_downgrading_below_keying_is_refused_while_signed_rows_exist(
    empty_engine: AsyncEngine,
) -> None:
    await migrations.upgrade(empty_engine)
    await append_rows(empty_engine, 2)

    with pytest.raises(OperationFailed, match="2 audit rows are signed"):
        await migrations.downgrade(empty_engine, "0007")

    assert await migrations.current_revision(empty_engine) == migrations.head_revision()
    assert (await verify(empty_engine)).broken is None


async def test_unkeyed_rows_alone_do_not_verify(empty_engine: AsyncEngine) -> None:
    """The review forged a whole chain as plain SHA-256 rows with the anchor moved to its
    end: until one signed row covers the last unkeyed one, that cannot be told apart."""
    await migrations.upgrade(empty_engine, "0007")
    await write_unkeyed_rows(empty_engine, 3)
    await migrations.upgrade(empty_engine)

    before_any_change = await verify(empty_engine)
    await append_rows(empty_engine, 1)
    after_one = await verify(empty_engine)

    assert before_any_change.broken is not None
    assert "no row is signed yet" in before_any_change.broken.reason
    assert after_one.broken is None
