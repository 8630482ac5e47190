"""`opsledger jobs list|logs [-f]` from the shell."""

from __future__ import annotations

from pathlib import Path

from opsledger.config import Settings
from opsledger.db.engine import create_engine
from opsledger.db.session import session_factory, unit_of_work
from opsledger.worker.ingest import LogWriter
from tests import factories as f
from tests.e2e.cli import opsledger


async def test_a_jobs_output_is_printed_and_its_end_sets_the_exit_code(workdir: Path) -> None:
    engine = create_engine(Settings(database_url=f"sqlite+aiosqlite:///{workdir / 'opsledger.db'}"))
    async with unit_of_work(session_factory(engine)) as session:
        good = await f.make_job(session, status="success")
        bad = await f.make_job(session, status="failed")
    for job in (good, bad):
        writer = LogWriter(engine, job.id, job.created_at)
        await writer.write_many(f"TASK {n} of job {job.id}" for n in range(1, 4))
        await writer.close()
    await engine.dispose()

    listed = opsledger("jobs", "list", "--status", "failed", cwd=workdir)
    printed = opsledger("jobs", "logs", str(good.id), "--after", "1", cwd=workdir)
    followed = opsledger("jobs", "logs", str(bad.id), "-f", cwd=workdir)
    missing = opsledger("jobs", "logs", "999", cwd=workdir)

    assert listed.returncode == 0, listed.stderr
    assert "failed" in listed.stdout
    assert printed.stdout.splitlines() == [f"TASK 2 of job {good.id}", f"TASK 3 of job {good.id}"]
    assert followed.returncode == 1
    assert f"TASK 3 of job {bad.id}" in followed.stdout
    assert "did not succeed (failed)" in followed.stderr
    assert missing.returncode == 1
    assert "job 999 does not exist" in missing.stderr
