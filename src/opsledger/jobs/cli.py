"""``opsledger jobs …``: list jobs and read or follow their output from the shell."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.db.engine import reader
from opsledger.db.session import session_factory, unit_of_work
from opsledger.jobs import service
from opsledger.jobs.models import Job, JobStatus
from opsledger.jobs.schemas import JobQuery
from opsledger.kit.cli import fail, load_settings, out, parse, run, run_in_context

jobs_cli = typer.Typer(help="Jobs and their output.", no_args_is_help=True)


@jobs_cli.command("list")
def list_jobs(
    status: Annotated[JobStatus | None, typer.Option(help="Only this status.")] = None,
    host_id: Annotated[int | None, typer.Option(help="Only jobs on this host.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
) -> None:
    """List jobs, oldest first."""
    settings = load_settings()
    query = parse(JobQuery, {"status": status, "host_id": host_id, "limit": limit})
    rows: list[Job] = run_in_context(
        settings, lambda ctx: service.page(ctx, query.filters(), None, None, query.limit, None)
    )
    table = Table("id", "status", "playbook", "host", "user", "created", "completed")
    for job in rows:
        table.add_row(
            str(job.id),
            job.status,
            str(job.playbook_id),
            str(job.host_id),
            str(job.user_id),
            job.created_at.isoformat(timespec="seconds"),
            job.completed_at.isoformat(timespec="seconds") if job.completed_at else "-",
        )
    out.print(table)


@jobs_cli.command("logs")
def logs(
    job_id: int,
    follow: Annotated[
        bool, typer.Option("-f", "--follow", help="Keep printing until it ends.")
    ] = False,
    after: Annotated[int, typer.Option(min=0, help="Start after this line number.")] = 0,
) -> None:
    """Print a job's output; with -f, follow it until the job ends."""
    settings = load_settings()

    async def stream(engine: AsyncEngine) -> JobStatus | None:
        sessions = session_factory(reader(engine))
        async with unit_of_work(sessions) as session:
            await service.exists(session, job_id)
        final: JobStatus | None = None
        async for item in service.follow(sessions, job_id, after, wait=follow):
            if "line_number" in item:
                sys.stdout.write(f"{item['content']}\n")
            else:
                final = item["status"]
        sys.stdout.flush()
        return final

    final = run(settings, stream)
    if follow and final is not None:
        out.print(f"job {job_id} ended: {final}")
        if final != JobStatus.success:
            fail(f"job {job_id} did not succeed ({final})")
