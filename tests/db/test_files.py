"""The SQLite database file and its WAL and shared-memory files are readable by their
owner only: they hold every row, the ciphertext of every secret among them."""

from __future__ import annotations

from pathlib import Path

from opsledger.config import Settings
from opsledger.db.engine import create_engine

SUFFIXES = ("", "-wal", "-shm")


def modes(database: Path) -> dict[str, int]:
    files = {suffix: Path(f"{database}{suffix}") for suffix in SUFFIXES}
    return {suffix: path.stat().st_mode & 0o777 for suffix, path in files.items() if path.exists()}


async def test_a_new_database_and_its_wal_are_the_owners_alone(tmp_path: Path) -> None:
    database = tmp_path / "new.db"
    engine = create_engine(Settings(database_url=f"sqlite+aiosqlite:///{database}"))
    try:
        async with engine.begin() as connection:
            await connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
            await connection.exec_driver_sql("INSERT INTO t VALUES (1)")
        seen = modes(database)
    finally:
        await engine.dispose()

    assert seen == {"": 0o600, "-wal": 0o600, "-shm": 0o600}


async def test_an_existing_readable_database_is_tightened(tmp_path: Path) -> None:
    database = tmp_path / "old.db"
    database.touch(mode=0o644)
    database.chmod(0o644)
    engine = create_engine(Settings(database_url=f"sqlite+aiosqlite:///{database}"))
    try:
        async with engine.connect() as connection:
            await connection.exec_driver_sql("SELECT 1")
    finally:
        await engine.dispose()

    assert modes(database)[""] == 0o600
