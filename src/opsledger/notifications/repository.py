"""The only SQL for notification channels, rules, deliveries and attempts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.alerts.models import AlertSeverity
from opsledger.db import queries
from opsledger.kit.pagination import Rows
from opsledger.notifications.models import (
    DeliveryStatus,
    NotificationAttempt,
    NotificationChannel,
    NotificationDelivery,
    NotificationRule,
)
from opsledger.tickets.models import TicketPriority

CHANNELS = queries.Catalogue(NotificationChannel, NotificationChannel.name)
get_channel = CHANNELS.get
channel_by_reference = CHANNELS.by_reference
channel_name_taken = CHANNELS.name_taken
channels_page = CHANNELS.page


async def channels_without_rules(session: AsyncSession) -> list[NotificationChannel]:
    """Enabled channels no rule routes anything to, oldest first."""
    ruled = select(NotificationRule.channel_id)
    statement = (
        select(NotificationChannel)
        .where(NotificationChannel.enabled.is_(True), NotificationChannel.id.not_in(ruled))
        .order_by(NotificationChannel.id)
    )
    return list(await session.scalars(statement))


async def get_rule(session: AsyncSession, rule_id: int) -> NotificationRule | None:
    return await session.get(NotificationRule, rule_id)


async def rules_page(
    session: AsyncSession, filters: dict[str, Any], limit: int, after: int | None
) -> Rows[NotificationRule]:
    return await queries.page(session, NotificationRule, filters, limit, after)


async def routes(
    session: AsyncSession,
    events: Sequence[str],
    environments: frozenset[str],
    template_id: int | None,
    priorities: Sequence[TicketPriority],
    severities: Sequence[AlertSeverity],
) -> list[tuple[int, int]]:
    """(rule id, channel id) of every enabled rule of an enabled channel whose filters
    the event passes, oldest rule first: one query whatever the number of rules.
    ``events``: the event's name and the broader one whose rules it reaches too.
    ``priorities``/``severities``: the minimums the event's priority or severity meets."""
    rule = NotificationRule
    statement = (
        select(rule.id, rule.channel_id)
        .join(NotificationChannel, NotificationChannel.id == rule.channel_id)
        .where(
            rule.event.in_(list(events)),
            rule.enabled.is_(True),
            NotificationChannel.enabled.is_(True),
            or_(rule.environment.is_(None), rule.environment.in_(sorted(environments))),
            or_(rule.template_id.is_(None), rule.template_id == template_id),
            or_(rule.min_priority.is_(None), rule.min_priority.in_(list(priorities))),
            or_(rule.min_severity.is_(None), rule.min_severity.in_(list(severities))),
        )
        .order_by(rule.id)
    )
    return [(rule_id, channel_id) for rule_id, channel_id in await session.execute(statement)]


async def add_deliveries(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(NotificationDelivery), rows)


async def get_delivery(session: AsyncSession, delivery_id: int) -> NotificationDelivery | None:
    return await session.get(NotificationDelivery, delivery_id)


async def deliveries_page(
    session: AsyncSession, filters: dict[str, Any], limit: int, after: int | None
) -> Rows[NotificationDelivery]:
    statement = select(NotificationDelivery)
    for name, value in filters.items():
        statement = statement.where(getattr(NotificationDelivery, name) == value)
    return await queries.keyset_page(
        session, statement, NotificationDelivery.id, limit, after, newest_first=True
    )


async def attempts_of(session: AsyncSession, delivery_id: int) -> list[NotificationAttempt]:
    statement = (
        select(NotificationAttempt)
        .where(NotificationAttempt.delivery_id == delivery_id)
        .order_by(NotificationAttempt.id)
    )
    return list(await session.scalars(statement))


def _due(now: datetime) -> ColumnElement[bool]:
    """Deliveries to send now: pending ones whose time has come, and ones whose claim ran
    out (their dispatcher died mid-send), of enabled channels."""
    delivery = NotificationDelivery
    enabled = select(NotificationChannel.id).where(NotificationChannel.enabled.is_(True))
    return and_(
        or_(
            and_(delivery.status == DeliveryStatus.pending, delivery.next_attempt_at <= now),
            and_(delivery.status == DeliveryStatus.sending, delivery.claimed_until < now),
        ),
        delivery.channel_id.in_(enabled),
    )


async def claim(session: AsyncSession, now: datetime, until: datetime, limit: int) -> list[int]:
    """Claim up to ``limit`` deliveries due at ``now``, oldest first, until ``until``:
    each moves to ``sending`` with its attempt counted. The rows are locked as they are
    read and rows another dispatcher holds are passed over (SKIP LOCKED; SQLite has one
    writer), so of several dispatchers exactly one claims each; one UPDATE for all."""
    delivery = NotificationDelivery
    statement = (
        select(delivery.id)
        .where(_due(now))
        .order_by(delivery.next_attempt_at, delivery.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = list(await session.scalars(statement))
    if ids:
        await session.execute(
            update(delivery)
            .where(delivery.id.in_(ids))
            .values(
                status=DeliveryStatus.sending,
                claimed_until=until,
                attempts=delivery.attempts + 1,
                tries_left=delivery.tries_left - 1,
            )
            .execution_options(synchronize_session=False)
        )
    return ids


async def claimed(session: AsyncSession, ids: list[int]) -> list[NotificationDelivery]:
    return list(
        await session.scalars(
            select(NotificationDelivery)
            .where(NotificationDelivery.id.in_(ids))
            .order_by(NotificationDelivery.id)
            .execution_options(populate_existing=True)
        )
    )


async def channels(session: AsyncSession, ids: set[int]) -> dict[int, NotificationChannel]:
    rows = await session.scalars(
        select(NotificationChannel).where(NotificationChannel.id.in_(sorted(ids)))
    )
    return {row.id: row for row in rows}


async def settle(
    session: AsyncSession, ids: list[int], until: datetime, values: dict[str, Any]
) -> int:
    """Record how an attempt at ``ids`` ended (the same ``values`` for each) where the
    claim that ends at ``until`` still holds (it ran out and another dispatcher took the
    delivery meanwhile: that one records it); how many were recorded."""
    delivery = NotificationDelivery
    statement = (
        update(delivery)
        .where(
            delivery.id.in_(ids),
            delivery.status == DeliveryStatus.sending,
            delivery.claimed_until == until,
        )
        .values(claimed_until=None, **values)
        .execution_options(synchronize_session=False)
    )
    result = await session.execute(statement)
    return int(result.rowcount)  # type: ignore[attr-defined]


async def add_attempts(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(NotificationAttempt), rows)


async def outbox(session: AsyncSession) -> tuple[dict[str, int], datetime | None]:
    """Deliveries not yet sent by status, and when the oldest of them was written."""
    waiting = (DeliveryStatus.pending, DeliveryStatus.sending)
    statement = (
        select(
            NotificationDelivery.status,
            func.count(),
            func.min(NotificationDelivery.created_at),
        )
        .where(NotificationDelivery.status.in_(waiting))
        .group_by(NotificationDelivery.status)
    )
    rows = list(await session.execute(statement))
    oldest = min((row[2] for row in rows if row[2] is not None), default=None)
    return {str(row[0]): int(row[1]) for row in rows}, oldest
