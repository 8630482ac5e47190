"""``opsledger freeze-windows …``: list the windows, what is frozen now, add one (once, or
on a cron in a zone) and delete one."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from opsledger.commands import load_settings, out, parse, run_in_context
from opsledger.freeze_windows import service
from opsledger.freeze_windows.models import FreezeWindow
from opsledger.freeze_windows.schemas import FreezeWindowCreate, FreezeWindowQuery
from opsledger.security.context import Ctx

freeze_windows_cli = typer.Typer(no_args_is_help=True)


def _scope(window: FreezeWindow) -> str:
    if window.environments:
        return "environments " + ", ".join(window.environments)
    if window.host_role_ids:
        return "host roles " + ", ".join(map(str, window.host_role_ids))
    return "every host"


def _when(window: FreezeWindow) -> str:
    if window.cron is not None:
        return f"{window.cron} ({window.timezone}) for {window.duration_minutes} min"
    start, end = window.starts_at, window.ends_at
    return f"{start.isoformat() if start else '-'} until {end.isoformat() if end else '-'}"


@freeze_windows_cli.command("list")
def list_windows(limit: Annotated[int, typer.Option(min=1, max=500)] = 50) -> None:
    """List freeze windows: when each holds, and which hosts."""
    settings = load_settings()
    query = parse(FreezeWindowQuery, {"limit": limit})
    rows = run_in_context(
        settings, lambda ctx: service.page(ctx, query.filters(), query.limit, None)
    )
    table = Table("id")
    table.add_column("name", no_wrap=True)
    table.add_column("when")
    table.add_column("holds")
    for window in rows.items:
        table.add_row(str(window.id), window.name, _when(window), _scope(window))
    out.print(table)


@freeze_windows_cli.command("active")
def active() -> None:
    """What is frozen now, and until when (exit 0 either way)."""
    settings = load_settings()
    opened = run_in_context(settings, lambda ctx: service.open_at(ctx))
    if not opened:
        out.print("nothing is frozen now")
    for each in opened:
        out.print(
            f"{each.window.name}: {_scope(each.window)} until {each.ends_at.isoformat()}",
            highlight=False,
        )


@freeze_windows_cli.command("add")
def add_window(
    name: Annotated[str, typer.Argument(help="The window's name.")],
    starts: Annotated[str | None, typer.Option("--from", help="Once: ISO 8601 start.")] = None,
    ends: Annotated[str | None, typer.Option("--until", help="Once: ISO 8601 end.")] = None,
    cron: Annotated[str | None, typer.Option(help="Recurring: when each time begins.")] = None,
    minutes: Annotated[
        int | None, typer.Option("--minutes", help="Recurring: how long each time lasts.")
    ] = None,
    timezone: Annotated[str, typer.Option("--timezone", "-z", help="IANA zone.")] = "UTC",
    environment: Annotated[
        list[str] | None, typer.Option("--environment", "-E", help="Only these; repeatable.")
    ] = None,
    role: Annotated[
        list[int] | None, typer.Option("--role", help="Only these host role ids; repeatable.")
    ] = None,
) -> None:
    """Freeze every host (or those of some environments or host roles), once or on a cron."""
    settings = load_settings()
    body = parse(
        FreezeWindowCreate,
        {
            "name": name,
            "starts_at": starts,
            "ends_at": ends,
            "cron": cron,
            "duration_minutes": minutes,
            "timezone": timezone,
            "environments": environment or None,
            "host_role_ids": role or None,
        },
    )
    window = run_in_context(settings, lambda ctx: service.create(ctx, body))
    out.print(f"freeze window {window.id} {window.name}: {_when(window)}", highlight=False)


@freeze_windows_cli.command("delete")
def delete_window(window: Annotated[str, typer.Argument(help="Name or id.")]) -> None:
    """Delete a window: what it held may launch again."""
    settings = load_settings()

    async def delete(ctx: Ctx) -> None:
        await service.delete(ctx, (await service.by_reference(ctx, window)).id)

    run_in_context(settings, delete)
    out.print(f"freeze window {window} deleted", highlight=False)
