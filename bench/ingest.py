"""Log ingest: 1M lines through opsledger's ingest path vs the raw driver at the same batch
size, and vs a naive ORM commit per row (on a sample), measured in the same run.

    python bench/ingest.py                                      # SQLite in a temp dir
    python bench/ingest.py --url postgresql://postgres@127.0.0.1/bench --lines 1000000
    python bench/ingest.py --url mysql://root@127.0.0.1/bench

Raw baselines: asyncpg ``copy_records_to_table`` on PostgreSQL, ``executemany`` of the
same INSERT on SQLite (sqlite3, with the engine's pragmas: foreign keys on,
synchronous=NORMAL) and MariaDB (asyncmy), 1,000 rows a transaction. Targets:
ratio >= 0.7 and >= 50x naive.
"""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime
from typing import Any

from drivers import asyncmy_connection, asyncpg_connection, command_line, new_job, run_against
from sqlalchemy.engine import make_url

from opsledger import migrations
from opsledger.config import Settings
from opsledger.db.engine import create_engine
from opsledger.db.session import session_factory
from opsledger.jobs.models import JobLog
from opsledger.worker.ingest import COLUMNS, LogWriter

BATCH = 1000
INSERT_SQL = (
    "INSERT INTO job_logs (job_id, job_created, line_number, content, log_level, timestamp) "
    "VALUES ({0}, {0}, {0}, {0}, {0}, {0})"
)


def line(n: int) -> str:
    return f"ok: [web-{n % 50}] => (item={n}) changed=false msg='task {n} done'"


async def project_rate(engine: Any, lines: int, grow: bool) -> tuple[float, LogWriter]:
    job_id, _, created = await new_job(engine)
    writer = LogWriter(
        engine, job_id, created, batch_lines=BATCH, max_batch=10_000 if grow else BATCH
    )
    started = time.perf_counter()
    for n in range(1, lines + 1):
        await writer.write(line(n))
    await writer.close()
    return lines / (time.perf_counter() - started), writer


def rows_for(
    job_id: int, created: datetime, start: int, count: int, naive: bool
) -> list[tuple[Any, ...]]:
    now = datetime.now(UTC)
    stamp_created = created.replace(tzinfo=None) if naive else created
    stamp_now = now.replace(tzinfo=None) if naive else now
    return [
        (job_id, stamp_created, n, line(n), None, stamp_now) for n in range(start, start + count)
    ]


async def raw_rate(engine: Any, url: str, lines: int) -> float:
    job_id, _, created = await new_job(engine)
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    started = time.perf_counter()
    if backend == "postgresql":
        connection = await asyncpg_connection(url)
        for start in range(1, lines + 1, BATCH):
            async with connection.transaction():
                await connection.copy_records_to_table(
                    "job_logs",
                    records=rows_for(job_id, created, start, BATCH, False),
                    columns=COLUMNS,
                )
        await connection.close()
    elif backend == "sqlite":
        connection = sqlite3.connect(parsed.database or "")
        # The settings opsledger's engine uses (db/engine.py), so both sides do the same
        # work: foreign keys checked, WAL with synchronous=NORMAL.
        connection.execute("PRAGMA foreign_keys = ON")
        connection.execute("PRAGMA synchronous = NORMAL")
        sql = INSERT_SQL.format("?")
        for start in range(1, lines + 1, BATCH):
            with connection:
                connection.executemany(
                    sql,
                    [
                        (j, c.isoformat(sep=" "), n, t, lv, ts.isoformat(sep=" "))
                        for j, c, n, t, lv, ts in rows_for(job_id, created, start, BATCH, True)
                    ],
                )
        connection.close()
    else:
        connection = await asyncmy_connection(url)
        sql = INSERT_SQL.format("%s")
        async with connection.cursor() as cursor:
            for start in range(1, lines + 1, BATCH):
                await cursor.executemany(sql, rows_for(job_id, created, start, BATCH, True))
                await connection.commit()
        connection.close()
    return lines / (time.perf_counter() - started)


async def naive_rate(engine: Any, lines: int) -> float:
    """The ORM, one committed transaction per line: what ingest looks like done simply."""
    job_id, _, created = await new_job(engine)
    sessions = session_factory(engine)
    started = time.perf_counter()
    for n in range(1, lines + 1):
        async with sessions() as session, session.begin():
            session.add(JobLog(job_id=job_id, job_created=created, line_number=n, content=line(n)))
    return lines / (time.perf_counter() - started)


async def main(url: str, lines: int, sample: int) -> None:
    engine = create_engine(Settings(database_url=url))
    await migrations.upgrade(engine)
    raw = await raw_rate(engine, url, lines)
    same_batch, _ = await project_rate(engine, lines, grow=False)
    grown, writer = await project_rate(engine, lines, grow=True)
    naive = await naive_rate(engine, sample)
    await engine.dispose()
    backend = make_url(url).get_backend_name()
    flushes = sorted(writer.stats.flush_seconds)
    p95 = flushes[int(len(flushes) * 0.95) - 1] * 1000 if flushes else 0.0
    print(
        f"{backend} ingest {same_batch:,.0f} lines/s, raw {raw:,.0f}, "
        f"ratio {same_batch / raw:.2f}, "
        f"vs naive {same_batch / naive:,.0f}x  ({lines:,} lines, {BATCH}-line batches; "
        f"naive {naive:,.0f} lines/s on {sample:,})"
    )
    print(
        f"{backend} ingest with growing batches {grown:,.0f} lines/s "
        f"({writer.stats.batches} transactions, flush p95 {p95:.0f} ms)"
    )


if __name__ == "__main__":
    parser = command_line(__doc__)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=2_000, help="lines for the naive baseline")
    args = parser.parse_args()
    run_against(args.url, main, args.lines, args.sample)
