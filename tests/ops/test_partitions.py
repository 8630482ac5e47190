"""job_logs and audit_logs on PostgreSQL: monthly partitions made by the migrations
(existing rows kept, ids continuing, the audit chain intact) and by `partitions ensure`;
retention drops a month that is past retention as a whole (for audit rows only a prefix
of the chain), and the schema check does not mistake partitions for drift."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger import migrations
from opsledger.audit import service as audit
from opsledger.config import Settings
from opsledger.db.session import session_factory, unit_of_work
from opsledger.models import AuditLog, Job, JobLog
from opsledger.ops import partitions, retention
from opsledger.ops.partitions import AUDIT_LOGS, JOB_LOGS
from opsledger.security.context import cli_context
from opsledger.worker.ingest import LogWriter
from tests import factories as f
from tests.audit.chains import write_unkeyed_rows
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


async def audit_rows(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch, at: datetime, count: int
) -> list[int]:
    """``count`` audit rows written as if at ``at``; returns their ids."""
    with monkeypatch.context() as patch:
        patch.setattr(audit, "utcnow", lambda: at)
        async with unit_of_work(session_factory(engine)) as session:
            ctx = cli_context(session, Settings())
            for n in range(count):
                audit.record(ctx, "test", "thing", n)
    async with engine.connect() as connection:
        newest = select(AuditLog.id).order_by(AuditLog.id.desc()).limit(count)
        return sorted(await connection.scalars(newest))


async def partition_names(
    engine: AsyncEngine, spec: partitions.Partitioned = JOB_LOGS
) -> list[str]:
    async with engine.connect() as connection:
        return await partitions.existing(connection, spec)


async def make_month(engine: AsyncEngine, spec: partitions.Partitioned, month: date) -> None:
    async with engine.begin() as connection:
        for statement in spec.create_sql(month):
            await connection.execute(text(statement))


async def chain_verifies(engine: AsyncEngine) -> int:
    async with unit_of_work(session_factory(engine)) as session:
        checked = await audit.verify(session, Settings())
    assert checked.broken is None
    return checked.rows


async def test_the_migrations_can_be_undone_and_partition_existing_rows(
    scratch_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Job lines are written at head (today's models cannot write to an older schema),
    audit rows at 0007 as it wrote them (revision 0011 refuses to go below it while
    signed rows exist); both are taken down to plain tables before 0005 and back up into
    monthly partitions."""
    now = datetime.now(UTC)
    old = now - timedelta(days=70)
    first = await lines_of(scratch_engine, old, 300, old)
    await migrations.downgrade(scratch_engine, "0007")
    unkeyed = await write_unkeyed_rows(scratch_engine, 4, old)

    await migrations.downgrade(scratch_engine, "0004")
    for spec in (JOB_LOGS, AUDIT_LOGS):
        assert await partition_names(scratch_engine, spec) == []
    async with scratch_engine.connect() as connection:
        kept = await connection.scalar(
            select(func.count()).select_from(JobLog).where(JobLog.job_id == first.id)
        )
        assert await connection.scalar(select(func.count()).select_from(AuditLog)) == 4
    assert kept == 300

    await migrations.upgrade(scratch_engine)
    for spec in (JOB_LOGS, AUDIT_LOGS):
        names = await partition_names(scratch_engine, spec)
        assert spec.name_of(partitions.month_start(old)) in names
        assert spec.name_of(partitions.month_start(now)) in names
        assert spec.default in names
    await lines_of(scratch_engine, now, 10, now)
    newest = await audit_rows(scratch_engine, monkeypatch, now, 1)
    async with scratch_engine.connect() as connection:
        ids = (await connection.execute(select(func.count(), func.max(JobLog.id)))).one()
        assert tuple(ids) == (310, 310)
        assert await connection.scalar(select(func.max(AuditLog.id))) == newest[0]
        assert not await migrations.drift(scratch_engine)
    assert await chain_verifies(scratch_engine) == len(unkeyed) + 1


async def test_retention_drops_an_expired_month_whole(
    scratch_engine: AsyncEngine, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    month = partitions.month_start(now - timedelta(days=200))
    await make_month(scratch_engine, JOB_LOGS, month)
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
    assert JOB_LOGS.name_of(month) not in names
    async with scratch_engine.connect() as connection:
        assert await connection.scalar(select(func.count()).select_from(JobLog)) == 20
    url = scratch_engine.url.render_as_string(hide_password=False)
    ensured = opsledger("partitions", "ensure", "--months", "6", cwd=tmp_path, database_url=url)
    assert ensured.returncode == 0, ensured.stderr
    later = partitions.month_start(now)
    for _ in range(6):
        later = partitions.next_month(later)
    assert JOB_LOGS.name_of(later) in await partition_names(scratch_engine)
    assert AUDIT_LOGS.name_of(later) in await partition_names(scratch_engine, AUDIT_LOGS)


async def test_retention_drops_expired_audit_months_and_the_chain_still_verifies(
    scratch_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime.now(UTC)
    month = partitions.month_start(now - timedelta(days=430))
    await make_month(scratch_engine, AUDIT_LOGS, month)
    await audit_rows(scratch_engine, monkeypatch, now - timedelta(days=600), 3)  # default
    await audit_rows(scratch_engine, monkeypatch, partitions.midnight(month) + timedelta(days=2), 5)
    kept = await audit_rows(scratch_engine, monkeypatch, now, 2)
    settings = Settings()

    removed = await retention.purge(
        session_factory(scratch_engine), settings, retention.cutoffs(settings), 1000
    )

    assert removed["audit_logs"] == 8
    assert AUDIT_LOGS.name_of(month) not in await partition_names(scratch_engine, AUDIT_LOGS)
    async with scratch_engine.connect() as connection:
        ids = (await connection.scalars(select(AuditLog.id).order_by(AuditLog.id))).all()
    assert ids[:2] == kept
    assert len(ids) == 3  # and the purge's own row
    assert await chain_verifies(scratch_engine) == 3


async def test_an_audit_month_holding_rows_after_a_kept_one_stays(
    scratch_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A clock that went back wrote an old timestamp after a kept row: the month holding
    it is not dropped (only a prefix of the chain may go); the rows before the kept one
    are deleted one by one."""
    now = datetime.now(UTC)
    month = partitions.month_start(now - timedelta(days=430))
    await make_month(scratch_engine, AUDIT_LOGS, month)
    back = partitions.midnight(month) + timedelta(days=2)
    await audit_rows(scratch_engine, monkeypatch, back, 4)
    await audit_rows(scratch_engine, monkeypatch, now, 1)
    await audit_rows(scratch_engine, monkeypatch, back, 1)
    settings = Settings()

    removed = await retention.purge(
        session_factory(scratch_engine), settings, retention.cutoffs(settings), 1000
    )

    assert removed["audit_logs"] == 4
    assert AUDIT_LOGS.name_of(month) in await partition_names(scratch_engine, AUDIT_LOGS)
    assert await chain_verifies(scratch_engine) == 3
