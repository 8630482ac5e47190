"""Monthly partitions of job_logs and audit_logs on PostgreSQL.

job_logs is range-partitioned by ``job_created`` (all lines of a job share one month's
partition, as AWX does), audit_logs by ``timestamp``: ``<table>_pYYYYMM`` per month plus
``<table>_default`` for anything outside them. Partitions are created ahead of time
(``opsledger partitions ensure``, and by the server's daily retention run), and retention
drops a whole month once everything in it is past retention instead of deleting rows one
by one.

audit_logs' guards carry over: its row triggers are cloned onto every partition by
PostgreSQL, and the TRUNCATE trigger, which PostgreSQL does not clone, is created with each
partition here. Its hash stays unique: PostgreSQL enforces uniqueness on a partitioned
table only together with the partition key, so the constraint is (hash, timestamp), and
since the hash covers the timestamp, two rows with one hash have one timestamp too.

SQLite has no partitioning, and MariaDB cannot partition a table with foreign keys, which
both tables have (lines go with their job, audit rows name their user): both keep plain
tables, which retention empties in batches."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import column, func, select, table, text, true
from sqlalchemy.ext.asyncio import AsyncConnection

from opsledger.jobs.models import Job

MONTHS_AHEAD = 3


def month_start(moment: datetime | date) -> date:
    return date(moment.year, moment.month, 1)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def midnight(month: date) -> datetime:
    """The UTC instant a month starts."""
    return datetime.combine(month, datetime.min.time(), UTC)


@dataclass(frozen=True)
class Partitioned:
    """A table PostgreSQL partitions by month of ``key``."""

    table: str
    key: str
    # The statement-level trigger function each partition gets for TRUNCATE (PostgreSQL
    # clones row triggers onto partitions, statement triggers not).
    truncate_guard: str | None = None

    @property
    def default(self) -> str:
        return f"{self.table}_default"

    def name_of(self, month: date) -> str:
        return f"{self.table}_p{month:%Y%m}"

    def month_of(self, name: str) -> date | None:
        """The month a partition holds; None for the default partition or another table."""
        match = re.fullmatch(rf"{self.table}_p(\d{{4}})(\d{{2}})", name)
        return None if match is None else date(int(match.group(1)), int(match.group(2)), 1)

    def owns(self, name: str) -> bool:
        return name == self.default or self.month_of(name) is not None

    def create_sql(self, month: date, parent: str | None = None) -> list[str]:
        """DDL for one month's partition; bounds are UTC midnights of the first days."""
        name, upper = self.name_of(month), next_month(month)
        return self._guarded(
            name,
            f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF {parent or self.table} "
            f"FOR VALUES FROM ('{month:%Y-%m-%d} 00:00:00+00') TO ('{upper:%Y-%m-%d} 00:00:00+00')",
        )

    def default_sql(self, parent: str | None = None) -> list[str]:
        return self._guarded(
            self.default, f"CREATE TABLE {self.default} PARTITION OF {parent or self.table} DEFAULT"
        )

    def _guarded(self, name: str, create: str) -> list[str]:
        """``create``, and the partition's TRUNCATE guard when the table has one."""
        if self.truncate_guard is None:
            return [create]
        return [
            create,
            f"CREATE OR REPLACE TRIGGER {name}_no_truncate BEFORE TRUNCATE ON {name} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {self.truncate_guard}()",
        ]

    def months_for(self, oldest: datetime | None, now: datetime) -> list[date]:
        """The months from ``oldest``'s (or ``now``'s) to MONTHS_AHEAD past ``now``'s."""
        month, last = month_start(oldest or now), month_start(now)
        for _ in range(MONTHS_AHEAD):
            last = next_month(last)
        months = []
        while month <= last:
            months.append(month)
            month = next_month(month)
        return months


JOB_LOGS = Partitioned("job_logs", "job_created")
AUDIT_LOGS = Partitioned("audit_logs", "timestamp", truncate_guard="audit_logs_append_only")
TABLES = (JOB_LOGS, AUDIT_LOGS)


@dataclass(frozen=True)
class Dropped:
    name: str
    rows: int


def supported(connection: AsyncConnection) -> bool:
    return connection.dialect.name == "postgresql"


def is_partition(name: str) -> bool:
    """Whether a table is one of the partitions (schema comparison skips them)."""
    return any(spec.owns(name) for spec in TABLES)


async def existing(connection: AsyncConnection, spec: Partitioned = JOB_LOGS) -> list[str]:
    rows = await connection.execute(
        text(
            "SELECT child.relname FROM pg_inherits "
            "JOIN pg_class parent ON parent.oid = pg_inherits.inhparent "
            "JOIN pg_class child ON child.oid = pg_inherits.inhrelid "
            "WHERE parent.relname = :table ORDER BY child.relname"
        ),
        {"table": spec.table},
    )
    return [name for (name,) in rows]


async def _is_partitioned(connection: AsyncConnection, spec: Partitioned) -> bool:
    statement = text("SELECT relkind FROM pg_class WHERE relname = :table AND relkind = 'p'")
    return await connection.scalar(statement, {"table": spec.table}) is not None


async def ensure(
    connection: AsyncConnection, months_ahead: int = MONTHS_AHEAD, now: datetime | None = None
) -> list[str]:
    """Create this month's and the next ``months_ahead`` months' partitions of each
    partitioned table that are missing; returns the names created."""
    if not supported(connection):
        return []
    created = []
    for spec in TABLES:
        if not await _is_partitioned(connection, spec):
            continue  # a database not yet migrated to partitions
        present = set(await existing(connection, spec))
        month = month_start(now or datetime.now(UTC))
        for _ in range(months_ahead + 1):
            if spec.name_of(month) not in present:
                for statement in spec.create_sql(month):
                    await connection.execute(text(statement))
                created.append(spec.name_of(month))
            month = next_month(month)
    return created


async def expired(
    connection: AsyncConnection, spec: Partitioned, cutoff: datetime
) -> list[tuple[str, date]]:
    """The monthly partitions of ``spec`` that end by ``cutoff``, oldest first."""
    months = []
    for name in await existing(connection, spec):
        month = spec.month_of(name)
        if month is not None and midnight(next_month(month)) <= cutoff:
            months.append((name, month))
    return sorted(months, key=lambda item: item[1])


async def drop(connection: AsyncConnection, name: str) -> None:
    await connection.execute(text(f'DROP TABLE "{name}"'))


async def drop_expired_audit(
    connection: AsyncConnection, cutoff: datetime, first_kept: int | None
) -> list[Dropped]:
    """Drop audit_logs months that end before ``cutoff``, oldest first, as long as every
    row in them comes before ``first_kept`` (the oldest row retention keeps): what goes
    is always a prefix of the hash chain. The caller holds the chain's lock and moves its
    anchor afterwards."""
    if not supported(connection):
        return []
    dropped = []
    for name, _ in await expired(connection, AUDIT_LOGS, cutoff):
        part = table(name, column("id"))
        rows, newest = (await connection.execute(select(func.count(), func.max(part.c.id)))).one()
        if newest is not None and first_kept is not None and newest >= first_kept:
            break
        await drop(connection, name)
        dropped.append(Dropped(name, rows))
    return dropped


async def drop_expired_lines(connection: AsyncConnection, cutoff: datetime) -> list[Dropped]:
    """Drop every job_logs month that ends before ``cutoff`` and whose newest line is
    older than it (a job created late in a month may have written lines into the next
    one); returns what went, with row counts."""
    if not supported(connection):
        return []
    dropped = []
    for name, month in await expired(connection, JOB_LOGS, cutoff):
        part = table(name, column("timestamp"))
        newest = await connection.scalar(select(func.max(part.c.timestamp)).select_from(part))
        if newest is not None and newest >= cutoff:
            continue
        rows = await _lines_in(connection, name, month)
        await drop(connection, name)
        dropped.append(Dropped(name, rows))
    return dropped


async def _lines_in(connection: AsyncConnection, name: str, month: date) -> int:
    """How many lines a month's partition holds, without reading them: a job's lines are
    numbered without gaps and retention only ever removes a job's oldest lines, so each
    job's lines are the range between its smallest and largest line number there, two
    index probes per job of that month."""
    part = table(name, column("job_id"), column("line_number"))
    bounds = (
        select(
            func.min(part.c.line_number).label("low"), func.max(part.c.line_number).label("high")
        )
        .where(part.c.job_id == Job.id)
        .lateral("bounds")
    )
    statement = (
        select(func.coalesce(func.sum(bounds.c.high - bounds.c.low + 1), 0))
        .select_from(Job)
        .join(bounds, true())
        .where(Job.created_at >= midnight(month), Job.created_at < midnight(next_month(month)))
    )
    return int(await connection.scalar(statement) or 0)
