"""Purging expired job output on PostgreSQL: dropping a month's partition vs the batched
DELETE a plain table needs (as on SQLite and MariaDB), both through ``retention.purge``,
on the same rows in the same run.

    python bench/retention.py --url postgresql://postgres@127.0.0.1/bench --rows 5000000

Two databases are made next to the one named (``…_partitioned`` and ``…_plain``), each
loaded with ``--rows`` lines of one job from seven months ago; in ``…_plain`` job_logs is
an unpartitioned copy of the table, with the same columns and indexes. Target: the partition
drop under 1 s and at least 100x faster than the batched DELETE.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime, timedelta

from drivers import asyncpg_connection, new_job
from sqlalchemy.engine import make_url

from opsledger import migrations
from opsledger.config import Settings, normalize_database_url
from opsledger.db.engine import create_engine
from opsledger.db.session import session_factory
from opsledger.ops import partitions, retention
from opsledger.ops.partitions import JOB_LOGS
from opsledger.worker.ingest import COLUMNS

CHUNK = 50_000


async def recreate(url: str, name: str) -> str:
    admin = await asyncpg_connection(url)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    return make_url(url).set(database=name).render_as_string(hide_password=False)


PLAIN = (
    "ALTER TABLE job_logs RENAME TO job_logs_partitioned",
    "CREATE TABLE job_logs (LIKE job_logs_partitioned INCLUDING DEFAULTS INCLUDING INDEXES)",
    "ALTER SEQUENCE job_logs_id_seq OWNED BY job_logs.id",
    "DROP TABLE job_logs_partitioned",
)


async def load(url: str, partitioned: bool, rows: int, when: datetime) -> float:
    """A database with ``rows`` lines written at ``when``; returns the seconds retention
    takes to remove them."""
    engine = create_engine(Settings(database_url=url))
    await migrations.upgrade(engine)
    statements = JOB_LOGS.create_sql(partitions.month_start(when)) if partitioned else PLAIN
    async with engine.begin() as connection:
        for statement in statements:
            await connection.exec_driver_sql(statement)
    job_id, _, _ = await new_job(engine)
    raw = await asyncpg_connection(url)
    await raw.execute("UPDATE jobs SET created_at = $1 WHERE id = $2", when, job_id)
    for start in range(0, rows, CHUNK):
        records = [
            (job_id, when, n, f"ok: [web-{n % 50}] => (item={n}) changed=false", None, when)
            for n in range(start + 1, min(start + CHUNK, rows) + 1)
        ]
        await raw.copy_records_to_table("job_logs", records=records, columns=COLUMNS)
    await raw.execute("ANALYZE job_logs")
    await raw.close()
    settings = Settings(database_url=url)
    started = time.perf_counter()
    removed = await retention.purge(
        session_factory(engine), settings, retention.cutoffs(settings), 10_000
    )
    took = time.perf_counter() - started
    await engine.dispose()
    assert removed["job_logs"] == rows, removed
    return took


async def main(url: str, rows: int) -> None:
    when = datetime.now(UTC) - timedelta(days=210)
    base = make_url(url).database or "bench"
    partitioned = await recreate(url, f"{base}_partitioned")
    plain = await recreate(url, f"{base}_plain")
    drop = await load(partitioned, True, rows, when)
    delete = await load(plain, False, rows, when)
    print(
        f"postgresql retention of {rows:,} expired lines: partition drop {drop:.3f} s, "
        f"batched DELETE {delete:.1f} s ({rows / delete:,.0f} rows/s), "
        f"drop {delete / drop:,.0f}x faster (targets: < 1 s, >= 100x)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--url", required=True, help="a PostgreSQL database URL")
    parser.add_argument("--rows", type=int, default=5_000_000)
    args = parser.parse_args()
    asyncio.run(main(normalize_database_url(args.url), args.rows))
