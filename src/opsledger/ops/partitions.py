"""Monthly partitions of job_logs on PostgreSQL.

job_logs is range-partitioned by ``job_created`` (all lines of a job share one month's
partition, as AWX does), ``job_logs_pYYYYMM`` per month plus ``job_logs_default`` for
anything outside them. Partitions are created ahead of time (``opsledger partitions
ensure``, and by the server's daily retention run), and retention drops a whole month
once every line in it is past retention instead of deleting rows one by one.

SQLite has no partitioning, and MariaDB cannot partition a table with foreign keys,
which job_logs needs (its lines go with their job): both keep a plain table, which
retention empties in batches.

audit_logs stays a plain table on every backend: its hash must stay unique on its own,
and PostgreSQL only enforces uniqueness on a partitioned table together with the
partition key; its yearly volume is small next to job output."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import column, func, select, table, text, true
from sqlalchemy.ext.asyncio import AsyncConnection

from opsledger.jobs.models import Job

TABLE = "job_logs"
PARTITION = re.compile(rf"^{TABLE}_(p(\d{{4}})(\d{{2}})|default)$")
MONTHS_AHEAD = 3


@dataclass(frozen=True)
class Dropped:
    name: str
    rows: int


def supported(connection: AsyncConnection) -> bool:
    return connection.dialect.name == "postgresql"


def is_partition(name: str) -> bool:
    """Whether a table is one of job_logs' partitions (schema comparison skips them)."""
    return PARTITION.match(name) is not None


def month_start(moment: datetime | date) -> date:
    return date(moment.year, moment.month, 1)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def name_of(month: date) -> str:
    return f"{TABLE}_p{month:%Y%m}"


def create_sql(month: date, parent: str = TABLE) -> str:
    """DDL for one month's partition; bounds are UTC midnights of the first days."""
    upper = next_month(month)
    return (
        f"CREATE TABLE IF NOT EXISTS {name_of(month)} PARTITION OF {parent} "
        f"FOR VALUES FROM ('{month:%Y-%m-%d} 00:00:00+00') TO ('{upper:%Y-%m-%d} 00:00:00+00')"
    )


async def existing(connection: AsyncConnection) -> list[str]:
    rows = await connection.execute(
        text(
            "SELECT child.relname FROM pg_inherits "
            "JOIN pg_class parent ON parent.oid = pg_inherits.inhparent "
            "JOIN pg_class child ON child.oid = pg_inherits.inhrelid "
            "WHERE parent.relname = :table ORDER BY child.relname"
        ),
        {"table": TABLE},
    )
    return [name for (name,) in rows]


async def ensure(
    connection: AsyncConnection, months_ahead: int = MONTHS_AHEAD, now: datetime | None = None
) -> list[str]:
    """Create this month's and the next ``months_ahead`` months' partitions that are
    missing; returns the names created."""
    if not supported(connection):
        return []
    present = set(await existing(connection))
    month, created = month_start(now or datetime.now(UTC)), []
    for _ in range(months_ahead + 1):
        if name_of(month) not in present:
            await connection.execute(text(create_sql(month)))
            created.append(name_of(month))
        month = next_month(month)
    return created


async def drop_expired(connection: AsyncConnection, cutoff: datetime) -> list[Dropped]:
    """Drop every monthly partition that ends before ``cutoff`` and whose newest line is
    older than it (a job created late in a month may have written lines into the next
    one); returns what went, with row counts."""
    if not supported(connection):
        return []
    dropped = []
    for name in await existing(connection):
        match = PARTITION.match(name)
        if match is None or match.group(2) is None:
            continue  # the default partition: retention deletes its rows one by one
        month = date(int(match.group(2)), int(match.group(3)), 1)
        ends = datetime.combine(next_month(month), datetime.min.time(), UTC)
        if ends > cutoff:
            continue
        part = table(name, column("timestamp"))
        newest = await connection.scalar(select(func.max(part.c.timestamp)).select_from(part))
        if newest is not None and newest >= cutoff:
            continue
        rows = await _lines_in(connection, name, month)
        await connection.execute(text(f'DROP TABLE "{name}"'))
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
    start = datetime.combine(month, datetime.min.time(), UTC)
    end = datetime.combine(next_month(month), datetime.min.time(), UTC)
    statement = (
        select(func.coalesce(func.sum(bounds.c.high - bounds.c.low + 1), 0))
        .select_from(Job)
        .join(bounds, true())
        .where(Job.created_at >= start, Job.created_at < end)
    )
    return int(await connection.scalar(statement) or 0)
