"""``opsledger runs …``: list runs, show one with its hosts' recaps (following it to its
end), cancel and relaunch it; ``follow`` serves ``opsledger templates launch`` too."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
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
)
from opsledger.config import JobBackend, Settings
from opsledger.db.engine import reader
from opsledger.db.session import session_factory, unit_of_work
from opsledger.jobs import dispatch
from opsledger.jobs.models import Job, JobStatus
from opsledger.jobs.plans import RECAP_FIELDS
from opsledger.runs import service
from opsledger.runs.models import Run
from opsledger.runs.schemas import RelaunchBody, RelaunchHosts, RunQuery, host_result
from opsledger.security.context import Ctx, cli_context, worker_name
from opsledger.users import service as users
from opsledger.worker.execution import drive_run

runs_cli = typer.Typer(no_args_is_help=True)

FOLLOW_SECONDS = 1.0
HOSTS_SHOWN = 500


@runs_cli.command("list")
def list_runs(
    status: Annotated[JobStatus | None, typer.Option(help="Only this status.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
) -> None:
    """List runs, oldest first, with their hosts by result."""
    settings = load_settings()
    query = RunQuery.model_validate({"status": status, "limit": limit})

    async def listed(engine: AsyncEngine) -> tuple[list[Run], dict[int, dict[str, Any]]]:
        async with unit_of_work(session_factory(reader(engine))) as session:
            ctx = cli_context(session, settings)
            rows = await service.page(ctx, query.filters(), query.limit, None)
            return rows.items, await service.tallies(ctx, rows.items)

    items, tallies = run(settings, listed)
    table = Table("id", "status", "playbook", "template", "hosts", "results", "created")
    for item in items:
        results = ", ".join(f"{n} {what}" for what, n in sorted(tallies[item.id]["hosts"].items()))
        table.add_row(
            str(item.id),
            item.status,
            str(item.playbook_id),
            str(item.template_id or "-"),
            str(len(item.host_ids)),
            results or "-",
            item.created_at.isoformat(timespec="seconds"),
        )
    out.print(table)


@runs_cli.command("show")
def show_run(
    run_id: Annotated[int, typer.Argument(min=1)],
    follow: Annotated[
        bool,
        typer.Option("-f", "--follow", help="Follow it to its end; exit 1 unless it succeeded."),
    ] = False,
) -> None:
    """A run and each host's result and play recap."""
    settings = load_settings()
    status = run(settings, lambda engine: follow_run(engine, settings, run_id, follow, drive=False))
    if follow and status is not JobStatus.success:
        raise typer.Exit(1)


@runs_cli.command("cancel")
def cancel_run(run_id: Annotated[int, typer.Argument(min=1)]) -> None:
    """Cancel a run that has not ended: its pending hosts never start, its running batch
    stops."""
    settings = load_settings()
    install_keys(settings)
    cancelled = run(
        settings, lambda engine: _in_unit(engine, settings, lambda ctx: service.cancel(ctx, run_id))
    )
    out.print(f"run {cancelled.id}: {cancelled.status}")


@runs_cli.command("relaunch")
def relaunch_run(
    run_id: Annotated[int, typer.Argument(min=1)],
    all_hosts: Annotated[
        bool, typer.Option("--all/--failed", help="Every host, or (default) the failed ones.")
    ] = False,
    follow: Annotated[
        bool, typer.Option("-f", "--follow", help="Run it here and follow it.")
    ] = False,
    user: Annotated[str, typer.Option(help="The user the run is for.")] = "admin",
    override_reason: OverrideReasonOption = None,
) -> None:
    """Run again, with the same options, on the run's failed or unreachable hosts (or
    all of them)."""
    settings = load_settings()
    install_keys(settings)
    which = RelaunchHosts.all if all_hosts else RelaunchHosts.failed
    body = parse(RelaunchBody, {"hosts": which, "override_reason": override_reason})

    async def relaunch(ctx: Ctx) -> Run:
        person = await users.by_username(ctx, user)
        return await service.relaunch(
            ctx, run_id, body.hosts, started_by=person.id, override_reason=body.override_reason
        )

    launched(settings, lambda engine: _in_unit(engine, settings, relaunch), follow)


def launched(
    settings: Settings, launch: Callable[[AsyncEngine], Awaitable[Run]], follow: bool
) -> None:
    """Launch a run (``launch(engine)``), say so, and with the embedded backend run it in
    this command; follow it when asked (exit 1 unless it succeeded)."""

    async def go(engine: AsyncEngine) -> JobStatus | None:
        new = await launch(engine)
        await dispatch.settled()
        err.print(
            f"run {new.id} queued: {len(new.host_ids)} hosts ({settings.job_backend} backend)"
        )
        embedded = settings.job_backend is JobBackend.embedded
        if not embedded and not follow:
            return None
        return await follow_run(engine, settings, new.id, follow, drive=embedded)

    status = run(settings, go)
    if status is not None and status is not JobStatus.success:
        fail(f"the run did not succeed ({status})")


async def _in_unit(
    engine: AsyncEngine, settings: Settings, work: Callable[[Ctx], Awaitable[Run]]
) -> Run:
    async with unit_of_work(session_factory(engine)) as session:
        return await work(cli_context(session, settings))


async def follow_run(
    engine: AsyncEngine, settings: Settings, run_id: int, follow: bool, *, drive: bool
) -> JobStatus:
    """Print each host's result as it ends (all at once when not following) and the recap
    table at the end; with ``drive``, run the batches in this process meanwhile."""
    driver = (
        asyncio.create_task(drive_run(engine, settings, run_id, worker_name("cli")))
        if drive
        else None
    )
    shown: set[int] = set()
    try:
        if driver is not None and not follow:  # the status to report is the one it ends in
            await driver
        while True:
            current, hosts = await _read(engine, settings, run_id)
            for job in hosts:
                if job.id not in shown and job.status not in (JobStatus.pending, JobStatus.running):
                    shown.add(job.id)
                    if follow:
                        err.print(f"{job.host.hostname}: {host_result(job)}", highlight=False)
            if not follow or current.status in service.FINAL:
                break
            await asyncio.sleep(FOLLOW_SECONDS)
        if driver is not None:
            await driver
    finally:
        if driver is not None and not driver.done():
            driver.cancel()
    out.print(recap_table(hosts))
    reason = f" ({current.reason})" if current.reason else ""
    out.print(f"run {current.id} {current.status}{reason}", highlight=False)
    return current.status


async def _read(engine: AsyncEngine, settings: Settings, run_id: int) -> tuple[Run, list[Job]]:
    async with unit_of_work(session_factory(reader(engine))) as session:
        ctx = cli_context(session, settings)
        current = await service.get(ctx, run_id)
        rows = await service.hosts_page(ctx, run_id, HOSTS_SHOWN, None)
        return current, rows.items


def recap_table(hosts: list[Job]) -> Table:
    """Ansible's play recap, a row per host (numbers stay narrow, hostnames whole)."""
    table = Table()
    table.add_column("host", no_wrap=True)
    table.add_column("result", no_wrap=True)
    for name in ("ok", "changed", "failed", "unreach", "skipped", "rescued", "ignored"):
        table.add_column(name, justify="right")
    for job in hosts:
        counts = [getattr(job, name) for name in RECAP_FIELDS]
        cells = ("-" if n is None else str(n) for n in counts)
        table.add_row(job.host.hostname, host_result(job), *cells)
    return table
