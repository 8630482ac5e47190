"""Audited changes to a row: create, update, a status transition and delete, each with its
audit row in the same transaction. These are the only ways a service changes an audited
row, so no change can skip its snapshot: each takes the row, the change and the action,
and does snapshot → write → reload → audit row itself."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from enum import StrEnum
from typing import Any, TypeVar, cast

from sqlalchemy import delete
from sqlalchemy import update as update_rows

from opsledger.audit import service as audit
from opsledger.kit.states import transition as compare_and_set
from opsledger.security.context import Ctx

R = TypeVar("R")
S = TypeVar("S", bound=StrEnum)


async def create(ctx: Ctx, resource_type: str, row: R) -> R:
    await create_all(ctx, resource_type, [row])
    return row


async def create_all(ctx: Ctx, resource_type: str, rows: Sequence[Any]) -> None:
    """Insert rows of one model in one flush (one statement where the backend returns
    the keys of many), each with its audit row; what the inserts left unloaded, other than
    the columns known to be NULL, is read back in one statement for them all."""
    nulls = [audit.inserted_as_null(row) for row in rows]
    ctx.session.add_all(rows)
    await ctx.session.flush()
    await audit.load_unloaded(ctx.session, rows, nulls)
    for row in rows:
        await audit.created(ctx, resource_type, row)


async def update(
    ctx: Ctx, resource_type: str, row: R, changes: Mapping[str, Any], *, action: str = "update"
) -> R:
    """Set ``changes`` on the row (a value may be a SQL expression, such as a counter's
    ``column + 1``; it is read back for the audit row). When every value is the one the
    row holds, the flush writes nothing and ``audit.changed`` records nothing (both compare
    strictly): the trail shows changes, not requests."""
    before = await audit.capture(ctx.session, row)
    for field, value in changes.items():
        setattr(row, field, value)
    await ctx.session.flush()
    await audit.changed(ctx, action, resource_type, row, before)
    return row


async def transition(
    ctx: Ctx,
    resource_type: str,
    row: R,
    machine: Mapping[S, set[S]],
    target: S,
    values: Mapping[str, Any] | None = None,
    *,
    action: str = "transition",
) -> R:
    """Move the row to ``target`` along ``machine`` by compare-and-set (Conflict when the
    table does not allow it or another change got there first), with ``values`` set in
    the same UPDATE."""
    before = await audit.capture(ctx.session, row)
    model: Any = type(row)
    row_id: int = cast(Any, row).id
    await compare_and_set(ctx.session, model, row_id, machine, target, dict(values or {}))
    await ctx.session.refresh(row)
    await audit.changed(ctx, action, resource_type, row, before)
    return row


@asynccontextmanager
async def claim(
    ctx: Ctx,
    resource_type: str,
    row: R,
    expected: Mapping[str, Any],
    values: Mapping[str, Any],
    *,
    action: str,
) -> AsyncIterator[bool]:
    """``UPDATE … SET <values> WHERE id = :id AND <each expected column = value>``: of two
    writers that read the same values exactly one changes the row (the other's UPDATE waits
    for the first to commit, then matches nothing). Yields whether this writer won; the
    winner's block may set more of the row, and one audit row records the whole change
    when the block ends. The loser's block runs with nothing written."""
    before = await audit.capture(ctx.session, row)
    model: Any = type(row)
    conditions = [getattr(model, name) == value for name, value in expected.items()]
    statement = (
        update_rows(model)
        .where(model.id == cast(Any, row).id, *conditions)
        .values(dict(values))
        .execution_options(synchronize_session=False)
    )
    result = await ctx.session.execute(statement)
    won = result.rowcount == 1  # type: ignore[attr-defined]
    if won:
        await ctx.session.refresh(row)
    yield won
    if won:
        await ctx.session.flush()
        await audit.changed(ctx, action, resource_type, row, before)


async def remove(ctx: Ctx, resource_type: str, row: Any) -> None:
    before = await audit.capture(ctx.session, row)
    model = type(row)
    await ctx.session.execute(delete(model).where(model.id == row.id))
    ctx.session.expunge(row)
    audit.record(ctx, "delete", resource_type, row.id, before=before)
