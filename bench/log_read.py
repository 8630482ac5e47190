"""Reading a 500-line page deep in a 1M-line job: the API (``opsledger serve``, one
process, over HTTP, API-key auth, JSON), timed by wrk on one connection, vs the raw driver
running the same keyset query, in the same run.

    python bench/log_read.py                                    # SQLite in a temp dir
    python bench/log_read.py --url postgresql://postgres@127.0.0.1/bench

Goal (issue 18): the API's p50 at most 2x the raw query's p50 + 1 ms. Also printed: the
service call alone in this process (session, query, rows read into the wire schema; no
HTTP, no auth), which says how much of the rest is the request around the query.
"""

from __future__ import annotations

import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from drivers import asyncmy_connection, asyncpg_connection, command_line, new_job, run_against
from pydantic import SecretStr
from request_path import free_port, wait_for, wrk
from sqlalchemy.engine import make_url

from api import start_server
from opsledger import migrations
from opsledger.api_keys.models import ApiKey
from opsledger.app import create_app
from opsledger.config import Settings
from opsledger.db.engine import create_engine
from opsledger.db.session import session_factory, unit_of_work
from opsledger.jobs import service
from opsledger.jobs.models import LINES_INDEX
from opsledger.security import api_keys
from opsledger.security.context import cli_context
from opsledger.worker.ingest import LogWriter

PAGE = 500
RAW_SQL = (
    "SELECT line_number, content, log_level, timestamp FROM job_logs{2} "
    "WHERE job_id = {0} AND line_number > {0} ORDER BY line_number LIMIT {1}"
)
# MariaDB is told which index to seek, as the API's query tells it (jobs/repository.py).
MYSQL_HINT = f" FORCE INDEX ({LINES_INDEX})"


async def load(settings: Settings, lines: int) -> tuple[int, str]:
    """A job with ``lines`` log lines, and an API key that may read it."""
    engine = create_engine(settings)
    await migrations.upgrade(engine)
    job_id, user_id, created = await new_job(engine)
    material = api_keys.generate()
    async with unit_of_work(session_factory(engine)) as session:
        session.add(
            ApiKey(user_id=user_id, name="read", prefix=material.prefix, key_hash=material.key_hash)
        )
    writer = LogWriter(engine, job_id, created)
    for n in range(1, lines + 1):
        await writer.write(f"ok: [web-{n % 50}] => (item={n}) changed=false")
    await writer.close()
    async with engine.begin() as connection:
        if connection.dialect.name != "mysql":
            await connection.exec_driver_sql("ANALYZE job_logs")
        else:
            await connection.exec_driver_sql("ANALYZE TABLE job_logs")
    await engine.dispose()
    return job_id, material.key


async def timed(call: Callable[[], Awaitable[Any]], rounds: int) -> float:
    """Median seconds per call."""
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


async def raw_page(url: str, job_id: int, after: int, rounds: int) -> float:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        connection = await asyncpg_connection(url)
        sql = RAW_SQL.format("${}", PAGE, "").replace("${}", "$1", 1).replace("${}", "$2", 1)
        seconds = await timed(lambda: connection.fetch(sql, job_id, after), rounds)
        await connection.close()
        return seconds
    if backend == "sqlite":
        connection = sqlite3.connect(parsed.database or "")

        async def fetch() -> None:
            connection.execute(RAW_SQL.format("?", PAGE, ""), (job_id, after)).fetchall()

        seconds = await timed(fetch, rounds)
        connection.close()
        return seconds
    mysql = await asyncmy_connection(url)

    async def fetch_mysql() -> None:
        async with mysql.cursor() as cursor:
            await cursor.execute(RAW_SQL.format("%s", PAGE, MYSQL_HINT), (job_id, after))
            await cursor.fetchall()

    seconds = await timed(fetch_mysql, rounds)
    mysql.close()
    return seconds


async def main(url: str, lines: int, rounds: int, seconds: float) -> None:
    settings = Settings(
        database_url=url,
        encryption_keys=[SecretStr(Fernet.generate_key().decode())],
        jwt_secret=SecretStr("read-" + "x" * 64),
    )
    job_id, key = await load(settings, lines)
    after = lines - 100_000 if lines > 100_000 else lines // 2
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    port, workdir = free_port(), Path(tempfile.mkdtemp())
    server = start_server(url, port, 1, workdir)
    page_url = f"http://127.0.0.1:{port}/api/v1/jobs/{job_id}/logs?after={after}&limit={PAGE}"
    try:
        await wait_for(page_url, {"X-API-Key": key})
        wrk(page_url, 2, {"X-API-Key": key}, connections=1)  # warm up
        api = wrk(page_url, seconds, {"X-API-Key": key}, connections=1)["p50"] / 1000
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)
    app = create_app(settings)
    database = app.state.database

    async def service_page() -> None:
        async with unit_of_work(database.reads or database.primary_reads) as session:
            await service.log_page(cli_context(session, settings), job_id, after, PAGE)

    await timed(service_page, 5)
    in_process = await timed(service_page, rounds)
    await database.dispose()
    raw = await raw_page(url, job_id, after, rounds)
    backend = make_url(url).get_backend_name()
    goal = 2 * raw + 0.001
    print(
        f"{backend} log read: {PAGE}-line page after line {after:,} of {lines:,}: "
        f"API p50 {api * 1000:.1f} ms (wrk, one connection, {seconds:g} s), raw driver p50 "
        f"{raw * 1000:.1f} ms (median of {rounds}), ratio {api / raw:.2f}; goal 2 x raw + 1 ms "
        f"= {goal * 1000:.1f} ms: {'met' if api <= goal else 'not met'}; the service call "
        f"alone (no HTTP, no auth) {in_process * 1000:.1f} ms, ratio {in_process / raw:.2f}"
    )


if __name__ == "__main__":
    parser = command_line(__doc__)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    run_against(args.url, main, args.lines, args.rounds, args.seconds)
