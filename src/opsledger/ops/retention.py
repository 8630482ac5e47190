"""Retention: job output older than ``log_retention_days`` and audit rows older than
``audit_retention_days`` leave the database, in batches of their own transactions.

Audit rows leave only here: the purge holds the audit_purge_guard row the triggers ask
for, removes a prefix of the chain, and moves the chain's anchor to the oldest row kept,
so ``opsledger audit verify`` still passes. Audit retention below a year needs
``force``. Each run that removes anything records an audit row with its counts."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from opsledger.audit import service as audit
from opsledger.config import Settings
from opsledger.db.base import utcnow
from opsledger.db.session import session_factory, unit_of_work
from opsledger.jobs import repository as job_logs
from opsledger.kit.errors import ValidationFailed
from opsledger.kit.periodic import Periodic
from opsledger.ops import partitions
from opsledger.security.context import system_context, worker_name

log = logging.getLogger(__name__)

MIN_AUDIT_DAYS = 365
TABLES = ("job_logs", "audit_logs")

Progress = Callable[[str, int], None]


@dataclass(frozen=True)
class Cutoffs:
    job_logs: datetime
    audit_logs: datetime


def cutoffs(settings: Settings, force: bool = False, now: datetime | None = None) -> Cutoffs:
    if settings.audit_retention_days < MIN_AUDIT_DAYS and not force:
        raise ValidationFailed(
            f"OPSLEDGER_AUDIT_RETENTION_DAYS is {settings.audit_retention_days}: audit rows "
            f"are kept at least {MIN_AUDIT_DAYS} days unless forced (--force)"
        )
    now = now or utcnow()
    return Cutoffs(
        job_logs=now - timedelta(days=settings.log_retention_days),
        audit_logs=now - timedelta(days=settings.audit_retention_days),
    )


async def preview(session: AsyncSession, limits: Cutoffs) -> dict[str, int]:
    """How many rows of each table a run would remove now."""
    return {
        "job_logs": await job_logs.count_lines_before(session, limits.job_logs),
        "audit_logs": await audit.count_expired(session, limits.audit_logs),
    }


async def purge(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    limits: Cutoffs,
    batch: int,
    progress: Progress | None = None,
    actor: str = "retention",
) -> dict[str, int]:
    """Remove what is past retention; returns the rows removed per table."""
    # Before anything goes: a purge must not happen without its audit row.
    key = audit.signing_key(settings)
    removed = dict.fromkeys(TABLES, 0)
    await _ensure_partitions(sessions)
    # PostgreSQL: whole months go at once; what is left is deleted row by row below.
    async with unit_of_work(sessions) as session:
        connection = await session.connection()
        lines = await partitions.drop_expired_lines(connection, limits.job_logs)
        first_kept = await audit.first_kept(session, limits.audit_logs)
        months = await partitions.drop_expired_audit(connection, limits.audit_logs, first_kept)
        if months:
            await audit.reanchor(session, key)
    for name, dropped in (("job_logs", lines), ("audit_logs", months)):
        removed[name] = sum(partition.rows for partition in dropped)
        if progress is not None and dropped:
            progress(name, removed[name])
    while True:
        async with unit_of_work(sessions) as session:
            ids = await job_logs.lines_before(session, limits.job_logs, batch)
            count = await job_logs.delete_lines(session, ids) if ids else 0
        if not count:
            break
        removed["job_logs"] += count
        if progress is not None:
            progress("job_logs", count)
    while True:
        async with unit_of_work(sessions) as session:
            count = await audit.purge_before(session, limits.audit_logs, batch, key)
        if not count:
            break
        removed["audit_logs"] += count
        if progress is not None:
            progress("audit_logs", count)
    if any(removed.values()):
        async with unit_of_work(sessions) as session:
            ctx = system_context(session, settings, actor)
            after = {
                "removed": removed,
                "job_logs_before": limits.job_logs.isoformat(),
                "audit_logs_before": limits.audit_logs.isoformat(),
            }
            audit.record(ctx, "purge", "retention", None, after=after)
    return removed


async def _ensure_partitions(sessions: async_sessionmaker[AsyncSession]) -> None:
    """The coming months' partitions (PostgreSQL). A failure here (say, lines of
    a coming month already sit in the default partition) is logged and does not stop the
    purge: retention must keep running."""
    try:
        async with unit_of_work(sessions) as session:
            await partitions.ensure(await session.connection())
    except SQLAlchemyError:
        log.exception("could not create the coming partitions; retention goes on")


SCHEDULED_BATCH = 10_000


async def run_scheduled(engine: AsyncEngine, settings: Settings) -> dict[str, int] | None:
    """The daily housekeeping every server process runs (retention, which also makes the
    coming partitions); a refusal is logged and the next interval tries again."""
    try:
        return await purge(
            session_factory(engine),
            settings,
            cutoffs(settings),
            SCHEDULED_BATCH,
            actor=worker_name("retention"),
        )
    except ValidationFailed:
        log.exception("retention did not run to the end; it runs again next interval")
        return None


PERIODIC = Periodic(
    "retention",
    every=lambda settings: settings.retention_interval_hours * 3600,
    first_delay=300.0,
    run=run_scheduled,
)
