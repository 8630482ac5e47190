"""Pooled connections the server dropped (a restart, a proxy's idle timeout): one idle
longer than OPSLEDGER_POOL_PING_AFTER_SECONDS is pinged before use and replaced, so the
next request does not fail; one in steady use is not pinged (a round trip per request)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.config import Settings
from opsledger.db.engine import create_engine
from tests.api import Person

pytestmark = pytest.mark.backends("postgresql", "mariadb")

WHO = {"postgresql": "SELECT pg_backend_pid()", "mariadb": "SELECT CONNECTION_ID()"}
KILL = {
    "postgresql": "SELECT pg_terminate_backend(:pid)",
    "mariadb": "KILL :pid",
}


async def test_a_connection_the_server_dropped_while_idle_is_replaced_before_use(
    engine: AsyncEngine, backend: str
) -> None:
    url = engine.url.render_as_string(hide_password=False)
    pool = create_engine(
        Settings(database_url=url, pool_size=1, max_overflow=0, pool_ping_after_seconds=0.2)
    )
    try:
        async with pool.connect() as connection:
            victim = (await connection.execute(text(WHO[backend]))).scalar_one()
        async with engine.connect() as other:
            await other.execute(text(KILL[backend]), {"pid": victim})
            await other.commit()
        await asyncio.sleep(0.5)  # idle past the ping threshold
        async with pool.connect() as connection:
            replaced = (await connection.execute(text(WHO[backend]))).scalar_one()
    finally:
        await pool.dispose()
    assert replaced != victim


async def test_a_request_answered_with_an_error_has_given_its_connections_back(
    client: httpx.AsyncClient, viewer: Person, engine: AsyncEngine
) -> None:
    """Reads, lists and writes refused or missing (404, 403, 401, 422 from a service) close
    their sessions before the answer, as a success does: a client probing ids must not
    hold pooled connections (or, on MariaDB, read snapshots) past its answers."""
    pool = engine.sync_engine.pool
    answers = await asyncio.gather(
        *(client.get(f"/hosts/{2**31 - 1 - n}", headers=viewer.headers) for n in range(6)),
        client.get("/hosts?tag=", headers=viewer.headers),
        client.get("/users/1", headers=viewer.headers),
        client.post("/hosts", json={}, headers=viewer.headers),
        client.get("/hosts/1", headers={"X-API-Key": "olk_nothing"}),
    )
    assert sorted({answer.status_code for answer in answers}) == [401, 403, 404, 422]
    assert pool.checkedout() == 0  # type: ignore[attr-defined]
