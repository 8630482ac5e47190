"""``opsledger jobs …``: list jobs and read or follow their output from the shell."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.commands import (
    OverrideReasonOption,
    err,
    fail,
    install_keys,
    load_settings,
    out,
    parse,
    run,
    run_in_context,
)
from opsledger.config import JobBackend
from opsledger.db.engine import reader
from opsledger.db.session import session_factory, unit_of_work
from opsledger.jobs import dispatch, following, service
from opsledger.jobs.models import Job, JobStatus
from opsledger.jobs.schemas import JobQuery
from opsledger.security.context import cli_context, worker_name
from opsledger.worker.execution import run_when_free

jobs_cli = typer.Typer(no_args_is_help=True)


@jobs_cli.command("list")
def list_jobs(
    status: Annotated[JobStatus | None, typer.Option(help="Only this status.")] = None,
    host_id: Annotated[int | None, typer.Option(help="Only jobs on this host.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
) -> None:
    """List jobs, oldest first."""
    settings = load_settings()
    query = parse(JobQuery, {"status": status, "host_id": host_id, "limit": limit})
    rows = run_in_context(
        settings, lambda ctx: service.page(ctx, query.filters(), None, None, query.limit, None)
    )
    table = Table("id", "status", "playbook", "host", "user", "created", "completed")
    for job in rows.items:
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


def extra_vars_from_options(pairs: list[str]) -> dict[str, Any] | None:
    """``-e key=value`` (a string) or ``-e '{"key": …}'`` (a JSON object), merged in order."""
    merged: dict[str, Any] = {}
    for pair in pairs:
        if pair.lstrip().startswith("{"):
            try:
                value = json.loads(pair)
            except json.JSONDecodeError as exc:
                raise typer.BadParameter(f"not valid JSON: {exc.msg}") from None
            if not isinstance(value, dict):
                raise typer.BadParameter("a JSON extra var must be an object")
            merged.update(value)
            continue
        key, equals, value = pair.partition("=")
        if not equals or not key.strip():
            raise typer.BadParameter(f"expected KEY=VALUE or a JSON object, got {pair!r}")
        merged[key.strip()] = value
    return merged or None


@jobs_cli.command("run")
def run_playbook(
    playbook: Annotated[str, typer.Argument(help="Playbook name or id.")],
    host: Annotated[str, typer.Argument(help="Hostname or id.")],
    extra: Annotated[
        list[str] | None,
        typer.Option("-e", "--extra-vars", help="KEY=VALUE or a JSON object; repeatable."),
    ] = None,
    follow: Annotated[
        bool, typer.Option("-f", "--follow", help="Print the output as it runs.")
    ] = False,
    user: Annotated[str, typer.Option(help="The user the job runs for.")] = "admin",
    override_reason: OverrideReasonOption = None,
) -> None:
    """Run PLAYBOOK on HOST. With the embedded backend the job runs in this command; with
    Celery a worker runs it (and -f follows it until it ends)."""
    settings = load_settings()
    install_keys(settings)
    extra_vars = extra_vars_from_options(extra or [])
    embedded = settings.job_backend is JobBackend.embedded

    async def launch(engine: AsyncEngine) -> Job | None:
        async with unit_of_work(session_factory(engine)) as session:
            job = await service.launch(
                cli_context(session, settings), playbook, host, extra_vars, user, override_reason
            )
            job_id = job.id
        await dispatch.settled()
        err.print(f"job {job_id} queued ({settings.job_backend} backend)")
        if not embedded and not follow:
            return None
        running = (
            asyncio.create_task(run_when_free(engine, settings, job_id, worker_name("cli")))
            if embedded
            else None
        )
        if follow:
            final = await print_output(engine, job_id, 0, wait=True)
        else:  # whoever runs it (this command, or a server that claimed it first)
            final = await following.wait_for_end(session_factory(reader(engine)), job_id)
        if running is not None:
            await running
        return None if final is None else await ended(engine, job_id)

    job = run(settings, launch)
    if job is not None:
        report(job)


async def ended(engine: AsyncEngine, job_id: int) -> Job:
    async with unit_of_work(session_factory(reader(engine))) as session:
        return await service.exists(session, job_id)


def report(job: Job) -> None:
    out.print(f"job ended: {job.status}")
    if job.status != JobStatus.success:
        reason = f": {job.error_message}" if job.error_message else ""
        fail(f"the job did not succeed ({job.status}){reason}")


async def print_output(
    engine: AsyncEngine, job_id: int, after: int, wait: bool
) -> JobStatus | None:
    """Print the job's lines after ``after``; with ``wait``, until it ends. Returns the
    final status (None when not waiting for the end)."""
    sessions = session_factory(reader(engine))
    final: JobStatus | None = None
    async for item in following.follow(sessions, job_id, after, wait=wait):
        if "line_number" in item:
            sys.stdout.write(f"{item['content']}\n")
            sys.stdout.flush()
        else:
            final = item["status"]
    return final


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

    async def stream(engine: AsyncEngine) -> Job | None:
        async with unit_of_work(session_factory(reader(engine))) as session:
            await service.exists(session, job_id)
        final = await print_output(engine, job_id, after, follow)
        return None if final is None else await ended(engine, job_id)

    job = run(settings, stream)
    if follow and job is not None:
        report(job)
