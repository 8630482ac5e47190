"""Audited changes to a row: create, update, delete, each with its audit row in the same
transaction. Domain services use these instead of repeating capture/flush/record."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from sqlalchemy import delete

from opsledger.audit import service as audit
from opsledger.security.context import Ctx

R = TypeVar("R")


async def create(ctx: Ctx, resource_type: str, row: R) -> R:
    ctx.session.add(row)
    await ctx.session.flush()
    await audit.created(ctx, resource_type, row)
    return row


async def update(ctx: Ctx, resource_type: str, row: R, changes: Mapping[str, Any]) -> R:
    before = await audit.capture(ctx.session, row)
    for field, value in changes.items():
        setattr(row, field, value)
    await ctx.session.flush()
    await audit.changed(ctx, "update", resource_type, row, before)
    return row


async def remove(ctx: Ctx, resource_type: str, row: Any) -> None:
    before = await audit.capture(ctx.session, row)
    model = type(row)
    await ctx.session.execute(delete(model).where(model.id == row.id))
    ctx.session.expunge(row)
    await audit.record(ctx, "delete", resource_type, row.id, before=before)


async def reload(ctx: Ctx, row: R) -> R:
    """After a Core UPDATE (a state transition), refresh what the session holds."""
    await ctx.session.refresh(row)
    return row
