"""Retention on every backend: what is past its time goes, in batches; everything newer,
and the jobs themselves, stay; a dry run removes nothing; the audit chain verifies after
its oldest rows were purged; and audit rows still cannot be deleted any other way, nor
by a purge that could not sign its own audit row."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.audit import service as audit
from opsledger.config import Settings
from opsledger.db.base import utcnow
from opsledger.db.session import session_factory, unit_of_work
from opsledger.kit.errors import ValidationFailed
from opsledger.models import AuditLog, AuditPurgeGuard, Job, JobLog
from opsledger.ops import retention
from opsledger.security.context import cli_context
from opsledger.security.crypto import KeyRing, KeyRingError, install_key_ring
from opsledger.worker.ingest import LogWriter
from tests import factories as f
from tests.api import ENCRYPTION_KEY
from tests.e2e.cli import opsledger

SETTINGS = Settings()  # 90 days of job output, 365 of audit rows


async def history(engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> Job:
    """A job with 2,500 lines from 100 days ago and 300 from today, and an audit chain of
    5 rows from 400 days ago followed by 3 from today."""
    sessions = session_factory(engine)
    async with unit_of_work(sessions) as session:
        job = await f.make_job(session)
    long_ago = utcnow() - timedelta(days=400)
    with monkeypatch.context() as patch:
        patch.setattr(audit, "utcnow", lambda: long_ago)
        async with unit_of_work(sessions) as session:
            for n in range(5):
                audit.record(cli_context(session, SETTINGS), "old", "thing", n)
    async with unit_of_work(sessions) as session:
        for n in range(3):
            audit.record(cli_context(session, SETTINGS), "new", "thing", n)
    writer = LogWriter(engine, job.id, job.created_at)
    old = utcnow() - timedelta(days=100)
    for n in range(2500):
        await writer.write(f"old {n}", at=old)
    await writer.write_many(f"new {n}" for n in range(300))
    await writer.close()
    return job


async def counts(engine: AsyncEngine) -> tuple[int, int, int]:
    async with engine.connect() as connection:
        lines = await connection.scalar(select(func.count()).select_from(JobLog))
        rows = await connection.scalar(select(func.count()).select_from(AuditLog))
        jobs = await connection.scalar(select(func.count()).select_from(Job))
    return int(lines or 0), int(rows or 0), int(jobs or 0)


async def test_a_dry_run_counts_and_a_run_removes_exactly_what_is_due(
    scratch_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = await history(scratch_engine, monkeypatch)
    sessions = session_factory(scratch_engine)
    limits = retention.cutoffs(SETTINGS)

    async with unit_of_work(sessions) as session:
        due = await retention.preview(session, limits)
    assert due == {"job_logs": 2500, "audit_logs": 5}
    assert await counts(scratch_engine) == (2800, 8, 1)

    seen: dict[str, int] = {}
    removed = await retention.purge(
        sessions, SETTINGS, limits, 1000, lambda name, n: seen.update({name: seen.get(name, 0) + n})
    )

    assert removed == {"job_logs": 2500, "audit_logs": 5}
    assert seen == removed
    assert await counts(scratch_engine) == (300, 4, 1)  # 3 kept + the purge's own row
    async with unit_of_work(sessions) as session:
        contents = await session.scalars(select(JobLog.content).where(JobLog.job_id == job.id))
        assert all(line.startswith("new ") for line in contents)
        check = await audit.verify(session, Settings())
        assert check.broken is None
        assert check.rows == 4
        purge = await session.scalar(select(AuditLog).where(AuditLog.action == "purge"))
        assert purge is not None
        assert purge.after is not None
        assert purge.after["removed"] == {"job_logs": 2500, "audit_logs": 5}
        assert await session.scalar(select(func.count()).select_from(AuditPurgeGuard)) == 0
        assert await retention.preview(session, limits) == {"job_logs": 0, "audit_logs": 0}


async def test_audit_rows_still_cannot_be_deleted_outside_retention(
    scratch_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    await history(scratch_engine, monkeypatch)
    with pytest.raises(DBAPIError, match="append-only"):
        async with scratch_engine.begin() as connection:
            await connection.execute(delete(AuditLog))
    assert (await counts(scratch_engine))[1] == 8


@pytest.mark.backends("sqlite")
async def test_without_an_audit_key_retention_removes_nothing(
    scratch_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch, key_ring: KeyRing
) -> None:
    """A purge records an audit row when it ends; without a key to sign it, nothing goes."""
    await history(scratch_engine, monkeypatch)
    install_key_ring(None)
    try:
        with pytest.raises(KeyRingError, match="audit rows are signed"):
            await retention.purge(
                session_factory(scratch_engine), SETTINGS, retention.cutoffs(SETTINGS), 1000
            )
    finally:
        install_key_ring(key_ring)
    assert await counts(scratch_engine) == (2800, 8, 1)


def test_audit_retention_under_a_year_needs_force() -> None:
    short = Settings(audit_retention_days=30)
    with pytest.raises(ValidationFailed, match="--force"):
        retention.cutoffs(short)
    assert retention.cutoffs(short, force=True).audit_logs > retention.cutoffs(SETTINGS).audit_logs


async def test_the_command_previews_runs_and_refuses_short_audit_retention(
    scratch_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    await history(scratch_engine, monkeypatch)
    settings = {
        "database_url": scratch_engine.url.render_as_string(hide_password=False),
        "encryption_keys": ENCRYPTION_KEY,
    }

    dry = opsledger("retention", "run", "--dry-run", cwd=tmp_path, **settings)
    short = opsledger("retention", "run", cwd=tmp_path, audit_retention_days="30", **settings)
    unchanged = await counts(scratch_engine)
    done = opsledger("retention", "run", "--batch", "700", cwd=tmp_path, **settings)

    assert dry.returncode == 0, dry.stderr
    assert "job_logs: would remove 2500 lines" in dry.stdout
    assert "audit_logs: would remove 5 rows" in dry.stdout
    assert short.returncode == 1
    assert "--force" in short.stderr
    assert unchanged == (2800, 8, 1)
    assert done.returncode == 0, done.stderr
    assert "job_logs: removed 2500 lines" in done.stdout
    assert await counts(scratch_engine) == (300, 4, 1)
    verify = opsledger("audit", "verify", cwd=tmp_path, **settings)
    assert verify.returncode == 0, verify.stdout + verify.stderr
