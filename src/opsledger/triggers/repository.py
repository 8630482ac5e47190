"""The only SQL for triggers and their deliveries."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.db import queries
from opsledger.kit.pagination import Rows
from opsledger.triggers.models import UNSIGNED_STATUSES, DeliveryOutcome, Trigger, TriggerDelivery

CATALOGUE = queries.Catalogue(Trigger, Trigger.name)
get = CATALOGUE.get
name_taken = CATALOGUE.name_taken
page = CATALOGUE.page
by_reference = CATALOGUE.by_reference


async def lock(session: AsyncSession, trigger_id: int) -> Trigger | None:
    """The trigger, locked until the transaction ends (on SQLite the writer lock does
    it): its deliveries are checked, counted and recorded one at a time."""
    statement = (
        select(Trigger)
        .where(Trigger.id == trigger_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return await session.scalar(statement)


async def remediating(session: AsyncSession) -> list[Trigger]:
    """The enabled triggers that name alert matchers (a JSON null among them is none)."""
    statement = (
        select(Trigger)
        .where(Trigger.enabled.is_(True), Trigger.alert_matchers.is_not(None))
        .order_by(Trigger.id)
    )
    return [trigger for trigger in await session.scalars(statement) if trigger.alert_matchers]


async def launched_before(
    session: AsyncSession, trigger_id: int, delivery_id: str, signed: str
) -> bool:
    """Whether a delivery of this id, or of this signature, launched already."""
    launched = TriggerDelivery.outcome == DeliveryOutcome.launched
    statement = select(
        exists().where(
            TriggerDelivery.trigger_id == trigger_id,
            or_(
                TriggerDelivery.launched_delivery == signed,
                and_(launched, TriggerDelivery.delivery_id == delivery_id),
            ),
        )
    )
    return bool(await session.scalar(statement))


async def launched_since(session: AsyncSession, trigger_id: int, since: datetime, cap: int) -> int:
    """How many deliveries launched since ``since``, counted up to ``cap``. A locking read:
    under REPEATABLE READ (MariaDB) it sees every launch committed before it, whenever
    the transaction took its snapshot (PostgreSQL locks no aggregate, hence the rows)."""
    statement = (
        select(TriggerDelivery.id)
        .where(
            TriggerDelivery.trigger_id == trigger_id,
            TriggerDelivery.outcome == DeliveryOutcome.launched,
            TriggerDelivery.created_at > since,
        )
        .limit(cap)
        .with_for_update(read=True)
    )
    return len((await session.scalars(statement)).all())


async def unsigned_since(session: AsyncSession, trigger_id: int, since: datetime) -> int:
    """Refusals of deliveries nobody signed (401, 413) recorded since ``since``."""
    statement = select(func.count()).where(
        TriggerDelivery.trigger_id == trigger_id,
        TriggerDelivery.outcome == DeliveryOutcome.refused,
        TriggerDelivery.status_code.in_(UNSIGNED_STATUSES),
        TriggerDelivery.created_at > since,
    )
    return int(await session.scalar(statement) or 0)


async def add_delivery(session: AsyncSession, delivery: TriggerDelivery) -> TriggerDelivery:
    session.add(delivery)
    await session.flush()
    return delivery


async def deliveries_page(
    session: AsyncSession, trigger_id: int, limit: int, after: int | None
) -> Rows[TriggerDelivery]:
    statement = select(TriggerDelivery).where(TriggerDelivery.trigger_id == trigger_id)
    return await queries.keyset_page(
        session, statement, TriggerDelivery.id, limit, after, newest_first=True
    )
