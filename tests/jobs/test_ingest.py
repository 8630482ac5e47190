"""Log ingest on every backend: 100,000 lines arrive gap-free, and a writer killed mid-way
and resumed neither loses committed lines nor numbers any line twice."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.db.session import session_factory, unit_of_work
from opsledger.jobs.plans import TaskResult
from opsledger.models import JobLog, JobTask
from opsledger.worker.ingest import LogWriter
from tests import factories as f

LINES = 100_000


async def a_job(engine: AsyncEngine) -> tuple[int, object]:
    async with unit_of_work(session_factory(engine)) as session:
        job = await f.make_job(session)
    return job.id, job.created_at


async def numbering(engine: AsyncEngine, job_id: int) -> tuple[int, int, int, int]:
    """(rows, distinct line numbers, min, max) of a job's log."""
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                select(
                    func.count(),
                    func.count(func.distinct(JobLog.line_number)),
                    func.min(JobLog.line_number),
                    func.max(JobLog.line_number),
                ).where(JobLog.job_id == job_id)
            )
        ).one()
    return tuple(row)  # type: ignore[return-value]


async def test_a_hundred_thousand_lines_arrive_numbered_without_gaps(engine: AsyncEngine) -> None:
    job_id, created = await a_job(engine)
    writer = LogWriter(engine, job_id, created)  # type: ignore[arg-type]
    await writer.write_many(f"ok: [web-1] => item {n}" for n in range(1, LINES + 1))
    await writer.close()

    assert await numbering(engine, job_id) == (LINES, LINES, 1, LINES)
    assert writer.stats.lines == LINES


def test_batches_grow_while_writes_are_quick_and_shrink_when_one_nears_the_bound() -> None:
    writer = LogWriter(None, 1, datetime.now(UTC), batch_lines=1000, max_batch=8000)  # type: ignore[arg-type]
    quick, slow = writer.max_delay / 4, writer.max_delay * 2
    for expected in (2000, 4000, 8000, 8000):
        writer._adapt(quick)
        assert writer._threshold == expected
    for expected in (4000, 2000, 1000, 1000):
        writer._adapt(slow)
        assert writer._threshold == expected
    writer._adapt(writer.max_delay * 0.75)  # neither quick nor near the bound: kept
    assert writer._threshold == 1000


WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from datetime import datetime
    from cryptography.fernet import Fernet
    from opsledger.config import Settings
    from opsledger.db.engine import create_engine
    from opsledger.worker.ingest import LogWriter

    async def main(url, job_id, created):
        engine = create_engine(Settings(database_url=url))
        writer = LogWriter(engine, job_id, datetime.fromisoformat(created), batch_lines=500, max_batch=500)
        for n in range(1, 1_000_001):
            await writer.write(f"line {n}")
            if n % 500 == 0:
                await asyncio.sleep(0.01)

    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
    """
)


async def test_a_killed_writer_resumes_without_gap_or_duplicate(engine: AsyncEngine) -> None:
    job_id, created = await a_job(engine)
    url = engine.url.render_as_string(hide_password=False)
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, url, str(job_id), created.isoformat()],  # type: ignore[attr-defined]
        env=os.environ.copy(),
    )
    deadline = time.monotonic() + 60
    committed = 0
    while committed < 5_000 and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        committed = (await numbering(engine, job_id))[0]
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    rows, distinct, first, last = await numbering(engine, job_id)
    assert rows == distinct == last
    assert first == 1

    writer = await LogWriter.resume(engine, job_id, created)  # type: ignore[arg-type]
    assert writer.next_line == last + 1
    await writer.write_many(f"line {n}" for n in range(writer.next_line, 20_001))
    await writer.close()

    assert await numbering(engine, job_id) == (20_000, 20_000, 1, 20_000)
    async with engine.connect() as connection:
        stored = await connection.execute(
            select(JobLog.line_number, JobLog.content).where(JobLog.job_id == job_id)
        )
        mismatched = [number for number, content in stored if content != f"line {number}"]
    assert mismatched == []


async def test_stopping_a_job_mid_write_loses_no_numbered_line(engine: AsyncEngine) -> None:
    """A job task cancelled while its writer flushes (a cancel, a shutdown): closing the
    writer afterwards still stores every line that got a number, once."""
    for delay in (0.005, 0.02, 0.05):
        job_id, created = await a_job(engine)
        writer = LogWriter(engine, job_id, created, batch_lines=500)
        producer = asyncio.create_task(writer.write_many(f"line {n}" for n in range(20_000)))
        await asyncio.sleep(delay)
        producer.cancel()
        await asyncio.gather(producer, return_exceptions=True)
        await writer.close()

        numbered = writer.next_line - 1
        assert numbered > 0
        assert await numbering(engine, job_id) == (numbered, numbered, 1, numbered)


async def test_task_results_are_written_with_the_lines_and_a_rerun_task_keeps_its_latest(
    engine: AsyncEngine,
) -> None:
    job_id, created = await a_job(engine)
    writer = LogWriter(engine, job_id, created)  # type: ignore[arg-type]
    handler = TaskResult(1, "restart", "ok", changed=True, duration_ms=5)

    await writer.write("TASK [install]")
    writer.record(TaskResult(0, "install", "ok", changed=False, duration_ms=12))
    writer.record(handler)
    await writer.flush()
    first = await task_rows(engine, job_id)
    writer.record(replace(handler, status="failed", duration_ms=7))  # notified again
    await writer.close()

    assert first == [(0, "install", "ok", False, 12), (1, "restart", "ok", True, 5)]
    assert await task_rows(engine, job_id) == [
        (0, "install", "ok", False, 12),
        (1, "restart", "failed", True, 7),
    ]
    assert await numbering(engine, job_id) == (1, 1, 1, 1)


async def task_rows(engine: AsyncEngine, job_id: int) -> list[tuple[object, ...]]:
    columns = (JobTask.position, JobTask.task, JobTask.status, JobTask.changed)
    statement = select(*columns, JobTask.duration_ms).where(JobTask.job_id == job_id)
    async with engine.connect() as connection:
        return [
            tuple(row) for row in await connection.execute(statement.order_by(JobTask.position))
        ]
