"""Reading a 500-line page deep in a 1M-line job: the API path (HTTP through the ASGI app,
API-key auth, JSON) vs the raw driver running the same keyset query, same run.

    python bench/log_read.py                                    # SQLite in a temp dir
    python bench/log_read.py --url postgresql://postgres@127.0.0.1/bench

Target: the API path within 1.5x of the raw query. Also printed: the same client and app
answering a route that does nothing (no auth, no database): the HTTP floor, below which no
handler can go, and the ratio even a free handler would reach.
"""

from __future__ import annotations

import sqlite3
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from cryptography.fernet import Fernet
from drivers import asyncmy_connection, asyncpg_connection, command_line, new_job, run_against
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from opsledger import migrations
from opsledger.api_keys.models import ApiKey
from opsledger.app import create_app
from opsledger.config import Settings
from opsledger.db.engine import create_engine
from opsledger.db.session import session_factory, unit_of_work
from opsledger.jobs import service
from opsledger.security import api_keys
from opsledger.security.context import cli_context
from opsledger.worker.ingest import LogWriter

PAGE = 500
RAW_SQL = (
    "SELECT line_number, content, log_level, timestamp FROM job_logs "
    "WHERE job_id = {0} AND line_number > {0} ORDER BY line_number LIMIT {1}"
)


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
        sql = RAW_SQL.format("${}", PAGE).replace("${}", "$1", 1).replace("${}", "$2", 1)
        seconds = await timed(lambda: connection.fetch(sql, job_id, after), rounds)
        await connection.close()
        return seconds
    if backend == "sqlite":
        connection = sqlite3.connect(parsed.database or "")

        async def fetch() -> None:
            connection.execute(RAW_SQL.format("?", PAGE), (job_id, after)).fetchall()

        seconds = await timed(fetch, rounds)
        connection.close()
        return seconds
    mysql = await asyncmy_connection(url)

    async def fetch_mysql() -> None:
        async with mysql.cursor() as cursor:
            await cursor.execute(RAW_SQL.format("%s", PAGE), (job_id, after))
            await cursor.fetchall()

    seconds = await timed(fetch_mysql, rounds)
    mysql.close()
    return seconds


async def main(url: str, lines: int, rounds: int) -> None:
    settings = Settings(
        database_url=url,
        encryption_keys=[SecretStr(Fernet.generate_key().decode())],
        jwt_secret=SecretStr("read-" + "x" * 64),
    )
    job_id, key = await load(settings, lines)
    after = lines - 100_000 if lines > 100_000 else lines // 2
    app = create_app(settings)

    @app.get("/bench/nothing")
    async def nothing() -> dict[str, str]:
        return {}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://bench/api/v1", headers={"X-API-Key": key}
    ) as client:

        async def api_page() -> httpx.Response:
            response = await client.get(
                f"/jobs/{job_id}/logs", params={"after": after, "limit": PAGE}
            )
            assert response.status_code == 200, response.text
            return response

        # Checked once: parsing the JSON is the client's work, not the API's.
        assert len((await api_page()).json()["items"]) == PAGE

        async def bare_http() -> None:
            response = await client.get("http://bench/bench/nothing")
            assert response.status_code == 200

        await timed(api_page, 5)  # warm up
        api = await timed(api_page, rounds)
        floor = await timed(bare_http, rounds)
    database = app.state.database

    async def service_page() -> None:
        async with unit_of_work(database.reads or database.primary_reads) as session:
            await service.log_page(cli_context(session, settings), job_id, after, PAGE)

    await timed(service_page, 5)
    in_process = await timed(service_page, rounds)
    await database.dispose()
    raw = await raw_page(url, job_id, after, rounds)
    backend = make_url(url).get_backend_name()
    print(
        f"{backend} log read: {PAGE}-line page after line {after:,} of {lines:,}: "
        f"API {api * 1000:.1f} ms, raw driver {raw * 1000:.1f} ms, ratio {api / raw:.2f} "
        f"(median of {rounds}; target <= 1.5); the service call alone (session, query, "
        f"JSON; no HTTP or auth) {in_process * 1000:.1f} ms, ratio {in_process / raw:.2f}; "
        f"HTTP floor (a route doing nothing) {floor * 1000:.1f} ms, so even a free handler "
        f"would reach ratio {(raw + floor) / raw:.2f}"
    )


if __name__ == "__main__":
    parser = command_line(__doc__)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=100)
    args = parser.parse_args()
    run_against(args.url, main, args.lines, args.rounds)
