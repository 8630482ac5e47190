"""The only SQL for schedules and their fires."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.db import queries
from opsledger.kit.pagination import Rows
from opsledger.schedules.models import Schedule, ScheduleFire

CATALOGUE = queries.Catalogue(Schedule, Schedule.name)
get = CATALOGUE.get
name_taken = CATALOGUE.name_taken
page = CATALOGUE.page
by_reference = CATALOGUE.by_reference


async def claim_due(session: AsyncSession, now: datetime, limit: int, after: int) -> list[Schedule]:
    """Up to ``limit`` enabled schedules with a due time that has come, or a fire
    waiting, by id after ``after`` (a keyset walk over all of them), locked until the
    transaction ends. Rows another transaction holds (it is firing them) are passed
    over, so processes walking the same list fire different batches instead of queueing
    on each other (SQLite has one writer: no lock to skip)."""
    statement = (
        select(Schedule)
        .where(
            Schedule.id > after,
            Schedule.enabled.is_(True),
            or_(Schedule.next_run_at <= now, Schedule.queued_at.is_not(None)),
        )
        .order_by(Schedule.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    return list(await session.scalars(statement))


async def unclaimed(session: AsyncSession, schedule_id: int) -> Schedule | None:
    """The schedule, locked until the transaction ends, or None while another transaction
    holds it (it is firing it)."""
    statement = (
        select(Schedule)
        .where(Schedule.id == schedule_id)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    return await session.scalar(statement)


async def add_fire(session: AsyncSession, fire: ScheduleFire) -> ScheduleFire:
    session.add(fire)
    await session.flush()
    return fire


async def fires_page(
    session: AsyncSession, schedule_id: int, limit: int, after: int | None
) -> Rows[ScheduleFire]:
    statement = select(ScheduleFire).where(ScheduleFire.schedule_id == schedule_id)
    return await queries.keyset_page(
        session, statement, ScheduleFire.id, limit, after, newest_first=True
    )
