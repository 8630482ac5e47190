"""Log ingest: a job's output lines, buffered and written in batches at driver speed.

Lines are numbered as they arrive, gap-free from where the stored log ends. A batch is
written when it reaches the size threshold or its oldest line is ``max_delay`` old, in its
own transaction: PostgreSQL COPY, elsewhere one multi-row INSERT per chunk. Under sustained
load the threshold doubles after each full batch that wrote in under half of
``max_delay`` (``batch_lines`` up to ``max_batch``) and halves after one that took longer
than ``max_delay``, so big producers pay fewer round trips without a batch outgrowing the
latency bound; the timer still writes any line within ``max_delay``, and a timer-driven
write resets the threshold. One batch is in flight while the producer fills the next;
a full buffer waits for the batch before it (backpressure), so memory stays bounded. A
crash loses at most the unwritten buffer and the batch in flight; a writer resumed
afterwards continues after the last committed line, so nothing is ever numbered twice.

The job's task results (its cells of a run's task-by-host matrix) ride along: buffered
like lines and written in the same transaction as the lines around them, one statement
for the new ones and one for any task that ran again (a handler notified after a
flush), so a run's matrix fills in while it runs at no extra round trip per result.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from opsledger.db.base import utcnow
from opsledger.jobs.models import JobLog, JobTask
from opsledger.jobs.plans import TaskResult
from opsledger.kit.metrics import INGEST_FLUSH, LOG_LINES

TABLE = cast(Table, JobLog.__table__)
TASKS = cast(Table, JobTask.__table__)
COLUMNS = ("job_id", "job_created", "line_number", "content", "log_level", "timestamp")


@dataclass
class IngestStats:
    lines: int = 0
    batches: int = 0
    flush_seconds: list[float] = field(default_factory=list)


class LogWriter:
    def __init__(
        self,
        engine: AsyncEngine,
        job_id: int,
        job_created: datetime,
        first_line: int = 1,
        *,
        batch_lines: int = 1000,
        max_batch: int = 10_000,
        max_delay: float = 0.25,
    ) -> None:
        self.engine = engine
        self.job_id = job_id
        self.job_created = job_created
        self.next_line = first_line
        self.batch_lines = batch_lines
        self.max_batch = max_batch
        self.max_delay = max_delay
        self.stats = IngestStats()
        self._threshold = batch_lines
        self._buffer: list[tuple[Any, ...]] = []
        self._results: dict[int, TaskResult] = {}  # by position: a task's latest
        self._written: set[int] = set()  # positions with a row
        self._oldest = 0.0
        self._lock = asyncio.Lock()
        self._timer: asyncio.Task[None] | None = None
        self._in_flight: asyncio.Future[None] | None = None

    @classmethod
    async def resume(
        cls, engine: AsyncEngine, job_id: int, job_created: datetime, **options: Any
    ) -> LogWriter:
        """A writer that continues after the last committed line of the job."""
        async with engine.connect() as connection:
            last = await connection.scalar(
                select(func.max(TABLE.c.line_number)).where(TABLE.c.job_id == job_id)
            )
        return cls(engine, job_id, job_created, int(last or 0) + 1, **options)

    async def write(
        self, content: str, level: str | None = None, at: datetime | None = None
    ) -> int:
        """Buffer one line; returns its line number."""
        number = self.next_line
        self.next_line += 1
        self._start_clock()
        self._buffer.append((self.job_id, self.job_created, number, content, level, at or utcnow()))
        if len(self._buffer) >= self._threshold:
            await self._send(adapt=True)
        else:
            self._arm()
        return number

    def record(self, result: TaskResult) -> None:
        """Buffer a task's result on the job's host, to be written with the next batch."""
        self._start_clock()
        self._results[result.position] = result
        self._arm()

    def _start_clock(self) -> None:
        if not self._buffer and not self._results:
            self._oldest = time.monotonic()

    def _arm(self) -> None:
        if self._timer is None or self._timer.done():
            self._timer = asyncio.create_task(self._flush_when_due())

    def _adapt(self, took: float) -> None:
        """Grow the batch while writes are quick, shrink it when one nears the bound."""
        if took < self.max_delay / 2:
            self._threshold = min(self._threshold * 2, self.max_batch)
        elif took > self.max_delay:
            self._threshold = max(self._threshold // 2, self.batch_lines)

    async def write_many(self, lines: Iterable[str], level: str | None = None) -> None:
        for line in lines:
            await self.write(line, level)

    async def _flush_when_due(self) -> None:
        while self._buffer or self._results:
            delay = self.max_delay - (time.monotonic() - self._oldest)
            if delay > 0:
                await asyncio.sleep(delay)
            self._threshold = self.batch_lines
            await self.flush()

    async def _send(self, adapt: bool = False) -> None:
        """Hand the buffer to the database without waiting for the commit, once the
        previous batch has committed: one batch in flight, batches in order, and the
        producer fills the next buffer while the last one is written."""
        async with self._lock:
            previous = self._in_flight
            if previous is not None:
                await asyncio.shield(previous)  # its failure stops the writer here
                if adapt:
                    self._adapt(self.stats.flush_seconds[-1])
            batch, self._buffer = self._buffer, []
            results, self._results = list(self._results.values()), {}
            if batch or results:
                again = [result for result in results if result.position in self._written]
                new = [result for result in results if result.position not in self._written]
                self._written.update(result.position for result in new)
                # A future of its own: cancelling a caller never abandons a batch that
                # has left the buffer; flush() and close() wait for it.
                self._in_flight = asyncio.ensure_future(self._write(batch, new, again))

    async def flush(self) -> None:
        """Write everything buffered so far and wait until it is committed."""
        await self._send()
        in_flight = self._in_flight
        if in_flight is not None:
            await asyncio.shield(in_flight)

    async def _write(
        self, batch: list[tuple[Any, ...]], new: list[TaskResult], again: list[TaskResult]
    ) -> None:
        started = time.perf_counter()
        async with self.engine.begin() as connection:
            for start in range(0, len(batch), self.max_batch):
                await write_rows(connection, batch[start : start + self.max_batch])
            await write_tasks(connection, self.job_id, new, again)
        took = time.perf_counter() - started
        self.stats.flush_seconds.append(took)
        self.stats.lines += len(batch)
        self.stats.batches += 1
        INGEST_FLUSH.observe(took)
        LOG_LINES.inc(len(batch))

    async def close(self) -> None:
        """Write what is left and wait for it; a failure of a timer-driven write
        surfaces here."""
        timer, self._timer = self._timer, None
        if timer is not None:
            if not timer.done():
                timer.cancel()
            elif not timer.cancelled() and (failure := timer.exception()) is not None:
                raise failure
        await self.flush()


async def write_rows(connection: AsyncConnection, rows: list[tuple[Any, ...]]) -> None:
    """COPY on PostgreSQL (binary, no SQL parsing per row); elsewhere the driver's
    executemany of one INSERT, with the two timestamps converted here, in bulk, the way
    the UTCDateTime column type would store them, instead of row by row through it."""
    dialect = connection.dialect
    if dialect.name == "postgresql":
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        await driver.copy_records_to_table(JobLog.__tablename__, records=rows, columns=COLUMNS)
        return
    stored = _sqlite_time if dialect.name == "sqlite" else _naive_utc
    created = stored(rows[0][1])  # one job per writer: the same value on every row
    await connection.exec_driver_sql(
        _insert_sql(dialect.paramstyle),
        [(job, created, n, text, level, stored(at)) for job, _, n, text, level, at in rows],
    )


async def write_tasks(
    connection: AsyncConnection, job_id: int, new: list[TaskResult], again: list[TaskResult]
) -> None:
    """Insert a job's ``new`` task results, and overwrite those of tasks that ran again."""
    if new:
        await connection.execute(insert(TASKS), [{"job_id": job_id, **asdict(r)} for r in new])
    if again:
        fields = ("task", "status", "changed", "duration_ms")
        overwrite = (
            update(TASKS)
            .where(TASKS.c.job_id == bindparam("job"), TASKS.c.position == bindparam("at"))
            .values({field: bindparam(f"new_{field}") for field in fields})
        )
        rows = [
            {"job": job_id, "at": result.position}
            | {f"new_{field}": getattr(result, field) for field in fields}
            for result in again
        ]
        await connection.execute(overwrite, rows)


def _naive_utc(moment: datetime) -> datetime:
    utc = moment if moment.tzinfo is UTC else moment.astimezone(UTC)
    return utc.replace(tzinfo=None)


def _sqlite_time(moment: datetime) -> str:
    """SQLAlchemy's SQLite DATETIME storage format, which UTCDateTime reads back. The
    hot path: a UTC time drops its "+00:00" by slicing instead of a copy without tzinfo."""
    utc = moment if moment.tzinfo is UTC else moment.astimezone(UTC)
    return utc.isoformat(" ", "microseconds")[:26]


def _insert_sql(paramstyle: str) -> str:
    marker = "?" if paramstyle == "qmark" else "%s"
    # A fixed table and fixed columns; every value is bound.
    return (
        f"INSERT INTO {JobLog.__tablename__} ({', '.join(COLUMNS)}) "  # noqa: S608
        f"VALUES ({', '.join([marker] * len(COLUMNS))})"
    )
