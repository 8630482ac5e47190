"""The only SQL for alerts."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.alerts.models import AlertStatus, MonitoringAlert
from opsledger.db import queries
from opsledger.kit.pagination import Rows

OPEN = (AlertStatus.firing, AlertStatus.acknowledged)


async def get(session: AsyncSession, alert_id: int) -> MonitoringAlert | None:
    return await session.get(MonitoringAlert, alert_id)


async def open_by_fingerprint(session: AsyncSession, fingerprint: str) -> MonitoringAlert | None:
    """The newest open alert with this fingerprint."""
    found = (await open_by_fingerprints(session, {fingerprint})).get(fingerprint)
    return found[-1] if found else None


async def open_by_fingerprints(
    session: AsyncSession, fingerprints: Collection[str]
) -> dict[str, list[MonitoringAlert]]:
    """fingerprint → its open alerts, oldest first, for those of the fingerprints that
    have any (exactly equal: on MariaDB too, whose collation matches more)."""
    if not fingerprints:
        return {}
    statement = (
        select(MonitoringAlert)
        .where(MonitoringAlert.fingerprint.in_(fingerprints), MonitoringAlert.status.in_(OPEN))
        .order_by(MonitoringAlert.id)
    )
    found: dict[str, list[MonitoringAlert]] = {}
    for alert in await session.scalars(statement):
        found.setdefault(str(alert.fingerprint), []).append(alert)
    return {fingerprint: found[fingerprint] for fingerprint in fingerprints if fingerprint in found}


async def page(
    session: AsyncSession, filters: dict[str, Any], limit: int, after: int | None
) -> Rows[MonitoringAlert]:
    return await queries.page(session, MonitoringAlert, filters, limit, after)
