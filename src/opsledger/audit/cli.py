"""``opsledger audit verify``: walk the hash chain and name the first row that does not fit."""

from __future__ import annotations

import typer
from rich.progress import Progress
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.audit import service
from opsledger.commands import err, load_settings, out, run
from opsledger.db.engine import snapshot
from opsledger.db.session import session_factory, unit_of_work

audit_cli = typer.Typer(no_args_is_help=True)


@audit_cli.command("verify")
def verify() -> None:
    """Recompute every row's hash from the chain's anchor; exit 1 at the first break."""
    settings = load_settings()

    async def walk(engine: AsyncEngine) -> service.Verification:
        async with unit_of_work(session_factory(snapshot(engine))) as session:
            total = await service.total(session)
            with Progress(console=err, transient=True) as progress:
                task = progress.add_task("verifying audit rows", total=total)
                return await service.verify(session, lambda n: progress.advance(task, n))

    result = run(settings, walk)
    if result.broken is not None:
        err.print(
            f"[red]audit chain broken at row {result.broken.row_id}:[/red] {result.broken.reason} "
            f"({result.rows} rows before it verified)",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)
    out.print(f"audit chain intact: {result.rows} rows verified")
