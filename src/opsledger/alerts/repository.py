"""The only SQL for alerts."""

from __future__ import annotations

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
    statement = (
        select(MonitoringAlert)
        .where(MonitoringAlert.fingerprint == fingerprint, MonitoringAlert.status.in_(OPEN))
        .order_by(MonitoringAlert.id.desc())
        .limit(1)
    )
    return await session.scalar(statement)


async def page(
    session: AsyncSession, filters: dict[str, Any], limit: int, after: int | None
) -> Rows[MonitoringAlert]:
    return await queries.page(session, MonitoringAlert, filters, limit, after)
