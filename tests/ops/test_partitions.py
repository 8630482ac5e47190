"""job_logs on PostgreSQL: monthly partitions made by the migration (existing lines kept,
ids continuing) and by `partitions ensure`; retention drops a month that is past
retention as a whole, and the schema check does not mistake partitions for drift."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger import migrations
from opsledger.config import Settings
from opsledger.db.session import session_factory, unit_of_work
from opsledger.jobs.ingest import LogWriter
from opsledger.models import Job, JobLog
from opsledger.ops import partitions, retention
from tests import factories as f
from tests.e2e.cli import opsledger

pytestmark = pytest.mark.backends("postgresql")


async def lines_of(engine: AsyncEngine, created: datetime, count: int, at: datetime) -> Job:
    async with unit_of_work(session_factory(engine)) as session:
        job = await f.make_job(session, created_at=created)
    writer = LogWriter(engine, job.id, job.created_at)
    for n in range(count):
        await writer.write(f"line {n}", at=at)
    await writer.close()
    return job


async def partition_names(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as connection:
        return await partitions.existing(connection)


async def test_the_migration_partitions_existing_lines_and_can_be_undone(
    scratch_engine: AsyncEngine,
) -> None:
    await migrations.downgrade(scratch_engine, "0004")
    now = datetime.now(UTC)
    old = now - timedelta(days=70)
    await lines_of(scratch_engine, old, 300, old)
    await migrations.upgrade(scratch_engine)

    names = await partition_names(scratch_engine)
    assert partitions.name_of(partitions.month_start(old)) in names
    assert partitions.name_of(partitions.month_start(now)) in names
    assert "job_logs_default" in names
    newer = await lines_of(scratch_engine, now, 10, now)
    async with scratch_engine.connect() as connection:
        ids = (await connection.execute(select(func.count(), func.max(JobLog.id)))).one()
        assert tuple(ids) == (310, 310)
        assert not await migrations.drift(scratch_engine)
    await migrations.downgrade(scratch_engine, "0004")
    assert await partition_names(scratch_engine) == []
    async with scratch_engine.connect() as connection:
        kept = await connection.scalar(
            select(func.count()).select_from(JobLog).where(JobLog.job_id == newer.id)
        )
    assert kept == 10


async def test_retention_drops_an_expired_month_whole(
    scratch_engine: AsyncEngine, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    month = partitions.month_start(now - timedelta(days=200))
    async with scratch_engine.begin() as connection:
        await connection.execute(text(partitions.create_sql(month)))
    created = datetime.combine(month, datetime.min.time(), UTC) + timedelta(days=3)
    await lines_of(scratch_engine, created, 1200, created)  # in its month's partition
    stray = now - timedelta(days=400)
    await lines_of(scratch_engine, stray, 50, stray)  # in the default partition
    await lines_of(scratch_engine, now, 20, now)
    settings = Settings()

    removed = await retention.purge(
        session_factory(scratch_engine), settings, retention.cutoffs(settings), 1000
    )

    assert removed["job_logs"] == 1250
    names = await partition_names(scratch_engine)
    assert partitions.name_of(month) not in names
    async with scratch_engine.connect() as connection:
        assert await connection.scalar(select(func.count()).select_from(JobLog)) == 20
    url = scratch_engine.url.render_as_string(hide_password=False)
    ensured = opsledger("partitions", "ensure", "--months", "6", cwd=tmp_path, database_url=url)
    assert ensured.returncode == 0, ensured.stderr
    later = partitions.month_start(now)
    for _ in range(6):
        later = partitions.next_month(later)
    assert partitions.name_of(later) in await partition_names(scratch_engine)
