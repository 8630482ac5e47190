"""Many jobs at once: N jobs each streaming lines through their own LogWriter, as N
running playbooks do. Prints the aggregate rate and the ingest lag (a line's emission
to the commit of its batch), p50/p95/max.

    python bench/concurrent_ingest.py                                   # SQLite, temp dir
    python bench/concurrent_ingest.py --url postgresql://postgres@127.0.0.1/bench
    python bench/concurrent_ingest.py --url mysql://root@127.0.0.1/bench --rate 200

``--rate`` paces each job (lines per second; a chatty playbook writes ~80); 0 means as
fast as the database takes them, which measures the aggregate ceiling instead.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from datetime import UTC, datetime
from typing import Any

from drivers import command_line, new_job, run_against
from sqlalchemy.engine import make_url

from opsledger import migrations
from opsledger.config import Settings
from opsledger.db.engine import create_engine
from opsledger.worker.ingest import LogWriter


class TimedWriter(LogWriter):
    """A LogWriter that notes, for each batch it commits, how long its lines waited."""

    lags: list[float]

    async def flush(self) -> None:
        waiting = [row[5] for row in self._buffer]
        await super().flush()
        now = datetime.now(UTC)
        self.lags.extend((now - emitted).total_seconds() for emitted in waiting)


async def stream(engine: Any, lines: int, rate: float, lags: list[float]) -> None:
    job_id, _, created = await new_job(engine)
    writer = TimedWriter(engine, job_id, created)
    writer.lags = lags
    started = time.perf_counter()
    for n in range(1, lines + 1):
        await writer.write(f"TASK [step {n}] ok: [host] => changed=false n={n}")
        if rate:
            # Keep to the pace: sleep until this line's slot, never ahead of it.
            delay = started + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        elif n % 100 == 0:
            await asyncio.sleep(0)  # let the other jobs write too
    await writer.close()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


async def main(url: str, jobs: int, lines: int, rate: float) -> None:
    engine = create_engine(Settings(database_url=url, pool_size=jobs, max_overflow=jobs))
    await migrations.upgrade(engine)
    lags: list[float] = []
    started = time.perf_counter()
    await asyncio.gather(*(stream(engine, lines, rate, lags) for _ in range(jobs)))
    took = time.perf_counter() - started
    await engine.dispose()
    backend = make_url(url).get_backend_name()
    pace = f"{rate:g} lines/s each" if rate else "unpaced"
    print(
        f"{backend} {jobs} concurrent jobs ({pace}): {jobs * lines / took:,.0f} lines/s "
        f"aggregate; ingest lag p50 {statistics.median(lags) * 1000:.0f} ms, "
        f"p95 {percentile(lags, 0.95) * 1000:.0f} ms, max {max(lags) * 1000:.0f} ms "
        f"({len(lags):,} lines timed)"
    )


if __name__ == "__main__":
    parser = command_line(__doc__)
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--lines", type=int, default=5_000, help="lines per job")
    parser.add_argument("--rate", type=float, default=500, help="lines/s per job; 0: unpaced")
    args = parser.parse_args()
    run_against(args.url, main, args.jobs, args.lines, args.rate)
