"""The only SQL for tickets."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.db import queries
from opsledger.kit.pagination import Rows
from opsledger.tickets.models import Ticket, TicketStatus

UNFINISHED = (TicketStatus.open, TicketStatus.in_progress)


def overdue_condition(now: datetime) -> Any:
    return Ticket.status.in_(UNFINISHED) & (Ticket.due_at < now)


async def overdue_untold(session: AsyncSession, now: datetime, limit: int) -> list[Ticket]:
    """Up to ``limit`` unfinished tickets past their due date whose lapse was not told
    yet, soonest due first, locked until the transaction ends (rows another process is
    telling are passed over)."""
    statement = (
        select(Ticket)
        .where(overdue_condition(now), Ticket.overdue_notified_at.is_(None))
        .order_by(Ticket.due_at, Ticket.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    return list(await session.scalars(statement))


async def get(session: AsyncSession, ticket_id: int) -> Ticket | None:
    return await session.get(Ticket, ticket_id)


async def page(
    session: AsyncSession,
    filters: dict[str, Any],
    overdue_at: datetime | None,
    limit: int,
    after: int | None,
) -> Rows[Ticket]:
    statement = select(Ticket)
    if overdue_at is not None:
        statement = statement.where(overdue_condition(overdue_at))
    return await queries.page(session, Ticket, filters, limit, after, statement)
