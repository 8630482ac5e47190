"""With a read replica configured, lists, statistics and log pages read the replica,
while writes, single-object reads (read-your-write) and authentication use the primary.
A second PostgreSQL database stands in for the replica: rows that exist only there (or
only on the primary) show which one answered."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.db.session import session_factory, unit_of_work
from opsledger.models import Host
from opsledger.worker.ingest import LogWriter
from tests import factories as f
from tests.api import Person, build_app, client_for
from tests.conftest import migrated_database

pytestmark = pytest.mark.backends("postgresql")


@pytest.fixture
async def replica(backend: str, sqlite_dir: Path) -> AsyncIterator[AsyncEngine]:
    async with migrated_database(backend, "replica", sqlite_dir) as engine:
        yield engine


async def test_lists_and_stats_read_the_replica_writes_and_lookups_the_primary(
    engine: AsyncEngine, replica: AsyncEngine, operator: Person
) -> None:
    replica_url = replica.url.render_as_string(hide_password=False)
    async with unit_of_work(session_factory(replica)) as session:
        await f.make_host(session, hostname="replica-only.test")
        job = await f.make_job(session)
    writer = LogWriter(replica, job.id, job.created_at)
    await writer.write_many(["from the replica"])
    await writer.close()

    async for client in client_for(build_app(engine, database_replica_url=replica_url)):
        created = await client.post(
            "/hosts",
            json={"hostname": "primary-only.test", "ip_address": "192.0.2.7", "os_type": "linux"},
            headers=operator.headers,
        )
        assert created.status_code == 201, created.text
        listed = await client.get("/hosts", params={"limit": 500}, headers=operator.headers)
        read_back = await client.get(f"/hosts/{created.json()['id']}", headers=operator.headers)
        stats = await client.get("/stats", headers=operator.headers)
        logs = await client.get(f"/jobs/{job.id}/logs", headers=operator.headers)

    names = {host["hostname"] for host in listed.json()["items"]}
    assert "replica-only.test" in names
    assert "primary-only.test" not in names
    assert read_back.status_code == 200  # read-your-write: the primary answers
    async with replica.connect() as connection:
        replica_hosts = await connection.scalar(select(func.count()).select_from(Host))
    assert stats.json()["totals"]["hosts"] == replica_hosts
    assert [line["content"] for line in logs.json()["items"]] == ["from the replica"]
