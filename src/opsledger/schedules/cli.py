"""``opsledger schedules …``: list schedules, add one (prompt values with -p, checked by
the template's validator), preview the times one fires, enable and disable it, and fire
what is due (where the servers do not: OPSLEDGER_SCHEDULE_POLL_SECONDS=0)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.commands import install_keys, load_settings, out, parse, run, run_in_context
from opsledger.jobs import dispatch
from opsledger.jobs.cli import extra_vars_from_options
from opsledger.schedules import service
from opsledger.schedules.firing import Fired, fire_due
from opsledger.schedules.models import MissedPolicy, OverlapPolicy, Schedule
from opsledger.schedules.schemas import (
    PreviewQuery,
    ScheduleCreate,
    ScheduleQuery,
    TimingPreviewQuery,
)
from opsledger.security.context import Ctx
from opsledger.templates import service as templates
from opsledger.templates.cli import ExtraVarsOption, LimitOption, PromptOption, host_ids, pair
from opsledger.users import service as users

schedules_cli = typer.Typer(no_args_is_help=True)


def _when(moment: datetime | None, zone: str) -> str:
    if moment is None:
        return "-"
    return moment.astimezone(ZoneInfo(zone)).isoformat(timespec="minutes")


@schedules_cli.command("list")
def list_schedules(limit: Annotated[int, typer.Option(min=1, max=500)] = 50) -> None:
    """List schedules with their next time (in their zone) and last run."""
    settings = load_settings()
    query = parse(ScheduleQuery, {"limit": limit})
    rows = run_in_context(
        settings, lambda ctx: service.page(ctx, query.filters(), query.limit, None)
    )
    table = Table("id")
    table.add_column("name", no_wrap=True)  # what a reader looks for, and copies whole
    for heading in ("template", "when", "zone", "enabled", "next", "last run"):
        table.add_column(heading)
    for schedule in rows.items:
        table.add_row(
            str(schedule.id),
            schedule.name,
            str(schedule.template_id),
            schedule.cron or f"once {_when(schedule.run_at, schedule.timezone)}",
            schedule.timezone,
            "yes" if schedule.enabled else "no",
            _when(schedule.next_run_at, schedule.timezone),
            str(schedule.last_run_id or "-"),
        )
    out.print(table)


@schedules_cli.command("add")
def add_schedule(
    name: Annotated[str, typer.Argument(help="The schedule's name.")],
    template: Annotated[str, typer.Option("--template", "-t", help="Template name or id.")],
    cron: Annotated[
        str | None, typer.Option(help="5 fields: minute hour day-of-month month day-of-week.")
    ] = None,
    run_at: Annotated[
        str | None, typer.Option("--at", help="Once, at this ISO 8601 instant with a zone.")
    ] = None,
    timezone: Annotated[str, typer.Option("--timezone", "-z", help="IANA zone.")] = "UTC",
    prompt: PromptOption = None,
    extra: ExtraVarsOption = None,
    limit: LimitOption = None,
    check: Annotated[bool, typer.Option("--check", help="Dry runs.")] = False,
    missed: Annotated[MissedPolicy, typer.Option(help="After downtime.")] = MissedPolicy.skip,
    overlap: Annotated[
        OverlapPolicy, typer.Option(help="While its previous run goes on.")
    ] = OverlapPolicy.skip,
    disabled: Annotated[bool, typer.Option("--disabled", help="Save it disabled.")] = False,
    user: Annotated[str, typer.Option(help="The user its runs are for.")] = "admin",
) -> None:
    """Schedule a template on a cron expression in a time zone, or once (--at)."""
    settings = load_settings()
    values = dict(pair(each) for each in prompt or ())

    async def add(ctx: Ctx) -> Schedule:
        chosen = await templates.by_reference(ctx, template)
        body = parse(
            ScheduleCreate,
            {
                "name": name,
                "template_id": chosen.id,
                "cron": cron,
                "run_at": run_at,
                "timezone": timezone,
                "enabled": not disabled,
                "missed": missed,
                "overlap": overlap,
                "prompts": values or None,
                "extra_vars": extra_vars_from_options(extra or []),
                "check": check or None,
                "limit_host_ids": host_ids(limit) if limit else None,
            },
        )
        person = await users.by_username(ctx, user)
        return await service.create(ctx, body, owner_id=person.id, from_text=True)

    schedule = run_in_context(settings, add)
    next_time = _when(schedule.next_run_at, schedule.timezone)
    out.print(f"schedule {schedule.id} {schedule.name}: next {next_time}", highlight=False)


@schedules_cli.command("preview")
def preview(
    schedule: Annotated[
        str | None, typer.Argument(help="A schedule's name or id (or give --cron).")
    ] = None,
    cron: Annotated[str | None, typer.Option(help="An expression not saved yet.")] = None,
    timezone: Annotated[str, typer.Option("--timezone", "-z", help="With --cron.")] = "UTC",
    count: Annotated[int, typer.Option("-n", "--count", min=1, max=100)] = 10,
) -> None:
    """The next times a schedule (or an expression) fires, in its zone and in UTC."""
    settings = load_settings()
    if (schedule is None) == (cron is None):
        raise typer.BadParameter("name a schedule or give --cron, not both")
    if cron is not None:
        query = parse(TimingPreviewQuery, {"cron": cron, "timezone": timezone, "count": count})
        zone, times = query.timezone, service.preview_cron(query.cron, query.timezone, count)
    else:
        parse(PreviewQuery, {"count": count})
        named = run_in_context(settings, lambda ctx: service.by_reference(ctx, schedule or ""))
        zone, times = named.timezone, service.preview(named, count)
    for moment in times:
        out.print(f"{_when(moment, zone)}  ({moment.isoformat(timespec='minutes')})")


def _switch(change: Callable[[Ctx, int], Awaitable[Schedule]], reference: str) -> None:
    settings = load_settings()

    async def switch(ctx: Ctx) -> Schedule:
        return await change(ctx, (await service.by_reference(ctx, reference)).id)

    schedule = run_in_context(settings, switch)
    state = "enabled" if schedule.enabled else "disabled"
    next_time = _when(schedule.next_run_at, schedule.timezone)
    out.print(f"schedule {schedule.id} {schedule.name} {state}: next {next_time}", highlight=False)


@schedules_cli.command("enable")
def enable(schedule: Annotated[str, typer.Argument(help="Name or id.")]) -> None:
    """Fire again from now on (times passed while disabled are not missed)."""
    _switch(lambda ctx, schedule_id: service.enable(ctx, schedule_id), schedule)


@schedules_cli.command("disable")
def disable(schedule: Annotated[str, typer.Argument(help="Name or id.")]) -> None:
    """Stop firing until enabled."""
    _switch(service.disable, schedule)


@schedules_cli.command("fire")
def fire() -> None:
    """Fire every schedule due now, once (as each server process does every
    OPSLEDGER_SCHEDULE_POLL_SECONDS); safe beside running servers: each due time fires once."""
    settings = load_settings()
    install_keys(settings)

    async def fired(engine: AsyncEngine) -> list[Fired]:
        done = await fire_due(engine, settings)
        await dispatch.settled()
        return done

    for each in run(settings, fired):
        made = f" run {each.run_id}" if each.run_id is not None else ""
        due = each.due_at.isoformat(timespec="seconds")
        out.print(f"schedule {each.schedule_id} due {due}: {each.outcome}{made}", highlight=False)
