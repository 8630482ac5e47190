"""`opsledger db …` against each backend, and the one-line errors a user sees."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from opsledger import migrations
from opsledger.db.engine import create_engine
from tests.conftest import fresh_database, settings_for
from tests.databases import drop_database
from tests.e2e.cli import opsledger


async def test_db_commands_migrate_check_and_report_drift(
    backend: str, sqlite_dir: Path, tmp_path: Path
) -> None:
    url = await fresh_database(backend, "cli", sqlite_dir)
    try:
        upgraded = opsledger("db", "upgrade", cwd=tmp_path, database_url=url)
        current = opsledger("db", "current", cwd=tmp_path, database_url=url)
        clean = opsledger("db", "check", cwd=tmp_path, database_url=url)

        engine = create_engine(settings_for(url))
        async with engine.begin() as connection:
            on_table = " ON hosts" if backend == "mariadb" else ""
            await connection.execute(text(f"DROP INDEX ix_hosts_status{on_table}"))
        await engine.dispose()
        drifted = opsledger("db", "check", cwd=tmp_path, database_url=url)
        downgraded = opsledger("db", "downgrade", "base", cwd=tmp_path, database_url=url)
        behind = opsledger("db", "check", cwd=tmp_path, database_url=url)
    finally:
        await drop_database(backend, url)

    assert upgraded.returncode == 0, upgraded.stderr
    assert f"current: {migrations.head_revision()}" in current.stdout
    assert clean.returncode == 0, clean.stderr
    assert "no drift" in clean.stdout
    assert drifted.returncode == 1
    assert "ix_hosts_status" in drifted.stderr
    assert downgraded.returncode == 0, downgraded.stderr
    assert behind.returncode == 1
    assert "opsledger db upgrade" in behind.stderr


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("oracle://scott:tiger@db/orcl", "unsupported database backend 'oracle'"),
        ("not a url", "not a database URL"),
        ("postgresql://admin:s3cr3t-pw@127.0.0.1:1/opsledger", "cannot reach the database"),
        ("sqlite:////nonexistent-dir/opsledger.db", "no database at /nonexistent-dir/opsledger.db"),
    ],
)
def test_a_bad_database_url_is_one_line_and_exit_code_1(
    tmp_path: Path, url: str, expected: str
) -> None:
    result = opsledger("db", "current", cwd=tmp_path, database_url=url, script=True)

    assert result.returncode == 1
    assert expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert "s3cr3t-pw" not in result.stderr + result.stdout
    assert "tiger" not in result.stderr + result.stdout


def test_an_unknown_command_is_a_usage_error(tmp_path: Path) -> None:
    assert opsledger("db", "sideways", cwd=tmp_path).returncode == 2
