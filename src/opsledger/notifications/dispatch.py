"""The dispatcher: each server process's runtime repeats ``deliver_due``, which claims due
deliveries with the rows locked (of several processes exactly one claims each), sends them
concurrently, each bounded in time, and records every attempt. A failed send is retried
with exponential backoff and jitter until its attempts run out, then it is dead.

A process that dies mid-send leaves its claims to run out; another then sends them
again, with the same Idempotency-Key, which receivers use to drop the repeat."""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from opsledger.config import Settings
from opsledger.db.base import utcnow
from opsledger.db.session import session_factory, unit_of_work
from opsledger.kit.metrics import NOTIFICATION_ATTEMPTS
from opsledger.kit.periodic import Periodic
from opsledger.notifications import outbox, repository, senders
from opsledger.notifications.models import (
    DeliveryStatus,
    NotificationDelivery,
)

log = logging.getLogger(__name__)

# Sends one process has in flight at once.
CONCURRENCY = 20


def backoff(settings: Settings, attempts: int) -> float:
    """Seconds before the next attempt after ``attempts`` failed ones: base * 2^(n-1), at
    most the maximum, less a random part of up to half (so a receiver that was down is not
    met by every delivery at the same instant)."""
    doubled = settings.notify_retry_base_seconds * 2.0 ** min(attempts - 1, 64)
    ceiling = min(doubled, settings.notify_retry_max_seconds)
    return ceiling * (1 - secrets.randbelow(500) / 1000)


def lease(settings: Settings) -> float:
    """How long a claim holds: every send of a full pass, one after another, and a margin."""
    rounds = -(-settings.notify_batch // CONCURRENCY)
    return settings.notify_timeout_seconds * rounds + 30


def outcome(
    settings: Settings, delivery: NotificationDelivery, sent: senders.Sent, now: datetime
) -> dict[str, Any]:
    """The delivery's columns after an attempt went as ``sent`` did."""
    values: dict[str, Any] = {"response_status": sent.response_status, "last_error": sent.error}
    if sent.ok:
        return values | {"status": DeliveryStatus.delivered, "delivered_at": now}
    if delivery.tries_left <= 0:
        return values | {"status": DeliveryStatus.dead}
    retry_at = now + timedelta(seconds=backoff(settings, delivery.attempts))
    return values | {"status": DeliveryStatus.pending, "next_attempt_at": retry_at}


async def deliver_due(
    engine: AsyncEngine, settings: Settings, now: datetime | None = None
) -> list[int]:
    """Send what is due at ``now`` (default: the clock's at each pass), a pass of up to
    ``notify_batch`` deliveries at a time until a pass finds fewer; the ids this process
    claimed and sent (another may have claimed the rest)."""
    sessions = session_factory(engine)
    sent: list[int] = []
    while True:
        claimed = await _pass(sessions, settings, now or utcnow())
        sent.extend(claimed)
        if len(claimed) < settings.notify_batch:
            return sent


async def _pass(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, now: datetime
) -> list[int]:
    until = now + timedelta(seconds=lease(settings))
    async with unit_of_work(sessions) as session:
        won = await repository.claim(session, now, until, settings.notify_batch)
        if not won:
            return []
        claimed = await repository.claimed(session, won)
        channels = await repository.channels(session, {each.channel_id for each in claimed})
    gate = asyncio.Semaphore(CONCURRENCY)

    async def send(delivery: NotificationDelivery) -> senders.Sent:
        message = senders.Message(str(delivery.uuid), delivery.event, delivery.payload)
        async with gate:
            return await senders.send(channels[delivery.channel_id], message, settings, out)

    async with senders.outbound(settings) as out:
        results = await asyncio.gather(*(send(each) for each in claimed))
    done = utcnow()
    settled = [
        (delivery, sent, outcome(settings, delivery, sent, done))
        for delivery, sent in zip(claimed, results, strict=True)
    ]
    await _record(sessions, settled, until, done)
    for delivery, _, values in settled:
        status = values["status"]
        label = "retry" if status is DeliveryStatus.pending else status.value
        NOTIFICATION_ATTEMPTS.labels(channels[delivery.channel_id].kind.value, label).inc()
    return won


Settled = tuple[NotificationDelivery, senders.Sent, dict[str, Any]]


async def _record(
    sessions: async_sessionmaker[AsyncSession],
    settled: list[Settled],
    until: datetime,
    now: datetime,
) -> None:
    """Every attempt, and each delivery's new columns where this pass's claim still
    holds: the deliveries that came out alike (delivered, or refused with the same
    answer) in one UPDATE."""
    alike: dict[tuple[tuple[str, Any], ...], list[int]] = {}
    for delivery, _, values in settled:
        alike.setdefault(tuple(sorted(values.items())), []).append(delivery.id)
    async with unit_of_work(sessions) as session:
        await repository.add_attempts(
            session,
            [
                {
                    "delivery_id": delivery.id,
                    "number": delivery.attempts,
                    "ok": sent.ok,
                    "response_status": sent.response_status,
                    "reply": sent.reply,
                    "error": sent.error,
                    "duration_ms": sent.duration_ms,
                    "created_at": now,
                }
                for delivery, sent, _ in settled
            ],
        )
        for columns, ids in alike.items():
            recorded = await repository.settle(session, ids, until, dict(columns))
            if recorded < len(ids):
                log.warning(
                    "%d of deliveries %s were claimed by another dispatcher meanwhile",
                    len(ids) - recorded,
                    ids,
                )


PERIODIC = Periodic(
    "notifications",
    every=lambda settings: settings.notify_poll_seconds,
    first_delay=1.0,
    run=deliver_due,
    nudge=outbox.WRITTEN,
)
