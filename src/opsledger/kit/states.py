"""State machines: a table of allowed moves and one compare-and-set transition."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.kit.errors import Conflict

S = TypeVar("S", bound=StrEnum)


def sources(machine: Mapping[S, set[S]], target: S) -> set[S]:
    """Every status from which ``target`` may be reached."""
    return {origin for origin, targets in machine.items() if target in targets}


async def transition(
    session: AsyncSession,
    model: Any,
    row_id: int,
    machine: Mapping[S, set[S]],
    target: S,
    values: dict[str, Any] | None = None,
    column: str = "status",
) -> None:
    """``UPDATE … SET status = :target WHERE id = :id AND status IN (:allowed)``.

    Of two racing writers exactly one matches a row; the other, and any move the table
    does not allow, gets Conflict. The caller reloads the row afterwards."""
    allowed = sources(machine, target)
    status = getattr(model, column)
    statement = (
        update(model)
        .where(model.id == row_id, status.in_(allowed))
        .values({column: target, **(values or {})})
        .execution_options(synchronize_session=False)
    )
    result = await session.execute(statement)
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(
            f"cannot move {model.__tablename__} {row_id} to {target}: "
            f"allowed only from {', '.join(sorted(allowed)) or 'nowhere'}, "
            "or another change got there first"
        )
