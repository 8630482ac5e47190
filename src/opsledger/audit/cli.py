"""``opsledger audit verify``: walk the hash chain and name the first row that does not fit."""

from __future__ import annotations

import re
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import Progress
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.audit import service
from opsledger.commands import err, install_configured_keys, load_settings, out, run
from opsledger.db.engine import snapshot
from opsledger.db.session import session_factory, unit_of_work

audit_cli = typer.Typer(no_args_is_help=True)

MAX_ROW_ID = 2**63 - 1  # audit_logs ids are 64-bit
HEAD_SHOWN = 16  # hex digits of the head's hash printed, enough to tell two rows apart
EXPECTED_HEAD = re.compile(r"(\d{1,19})(?::([0-9a-fA-F]{8,64}))?")


def expected_head(value: str | None) -> service.ExpectedHead | None:
    if value is None:
        return None
    match = EXPECTED_HEAD.fullmatch(value.strip())
    if match is None or not 1 <= int(match.group(1)) <= MAX_ROW_ID:
        raise typer.BadParameter(
            "expected ROW_ID or ROW_ID:HASH_PREFIX (8 to 64 hex digits), as verify printed it"
        )
    prefix = match.group(2)
    return service.ExpectedHead(int(match.group(1)), None if prefix is None else prefix.lower())


@audit_cli.command("verify")
def verify(
    expect_head: Annotated[
        str | None,
        typer.Option(
            metavar="ROW_ID[:HASH_PREFIX]",
            help="A head an earlier verify printed, kept outside the database: exit 1 if "
            "the chain no longer reaches it (rolled back) or holds another row there.",
        ),
    ] = None,
) -> None:
    """Recompute every row's hash from the chain's anchor with the configured keys; say
    which keys signed the rows (by fingerprint) and exit 1 at the first break. The head
    printed when intact is what tells a chain rolled back to an earlier state later
    (--expect-head): the database alone cannot."""
    expected = expected_head(expect_head)
    settings = load_settings()
    install_configured_keys(settings)

    async def walk(engine: AsyncEngine) -> service.Verification:
        async with unit_of_work(session_factory(snapshot(engine))) as session:
            total = await service.total(session)
            with Progress(console=err, transient=True) as progress:
                task = progress.add_task("verifying audit rows", total=total)
                return await service.verify(
                    session, settings, lambda n: progress.advance(task, n), expected
                )

    result = run(settings, walk)
    broken = result.broken
    if broken is None:
        out.print(f"audit chain intact: {result.rows} rows verified")
        _what_verified(result)
        if result.head_id is not None and result.head_hash is not None:
            head = f"{result.head_id}:{result.head_hash[:HEAD_SHOWN]}"
            out.print(
                f"  head: row {result.head_id}, hash {result.head_hash[:HEAD_SHOWN]} (keep it "
                f"outside the database; --expect-head {head} then tells a rollback)",
                highlight=False,
            )
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
