"""``opsledger audit verify``: walk the hash chain and name the first row that does not fit."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.progress import Progress
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.audit import service
from opsledger.commands import err, install_configured_keys, load_settings, out, run
from opsledger.db.engine import snapshot
from opsledger.db.session import session_factory, unit_of_work

audit_cli = typer.Typer(no_args_is_help=True)


@audit_cli.command("verify")
def verify() -> None:
    """Recompute every row's hash from the chain's anchor with the configured keys; say
    which keys signed the rows (by fingerprint) and exit 1 at the first break."""
    settings = load_settings()
    install_configured_keys(settings)

    async def walk(engine: AsyncEngine) -> service.Verification:
        async with unit_of_work(session_factory(snapshot(engine))) as session:
            total = await service.total(session)
            with Progress(console=err, transient=True) as progress:
                task = progress.add_task("verifying audit rows", total=total)
                return await service.verify(session, settings, lambda n: progress.advance(task, n))

    result = run(settings, walk)
    broken = result.broken
    if broken is None:
        out.print(f"audit chain intact: {result.rows} rows verified")
        _what_verified(result)
        return
    _what_verified(result)
    # The reason can quote a key_id read from the database: no markup of its own.
    err.print(
        f"[red]audit chain broken at row {broken.row_id}:[/red] {escape(broken.reason)} "
        f"({result.rows} rows before it verified)",
        highlight=False,
        soft_wrap=True,
    )
    raise typer.Exit(1)


def _what_verified(result: service.Verification) -> None:
    if result.unkeyed_rows:
        out.print(
            f"  unkeyed, from before the chain was keyed (plain SHA-256): {result.unkeyed_rows}"
        )
    for use in result.keys:
        signing = " (signs new rows)" if use.signing else ""
        out.print(f"  signed by audit key {use.key_id}{signing}: {use.rows}")
