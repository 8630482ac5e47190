"""Grouped counts: the database counts, opsledger never loads rows to count them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.alerts.models import AlertStatus, MonitoringAlert
from opsledger.deployments.models import Deployment
from opsledger.host_roles.models import HostRole
from opsledger.hosts.models import Host
from opsledger.jobs.models import Job
from opsledger.playbooks.models import Playbook
from opsledger.tickets.models import Ticket
from opsledger.tickets.repository import UNFINISHED, overdue_condition
from opsledger.users.models import User

COUNTED = {
    "users": User,
    "hosts": Host,
    "host_roles": HostRole,
    "playbooks": Playbook,
    "jobs": Job,
    "tickets": Ticket,
    "deployments": Deployment,
    "alerts": MonitoringAlert,
}


async def totals(session: AsyncSession) -> dict[str, int]:
    """Every table's row count in one round trip (scalar subqueries)."""
    columns = [
        select(func.count()).select_from(model).scalar_subquery().label(name)
        for name, model in COUNTED.items()
    ]
    row = (await session.execute(select(*columns))).one()
    return dict(row._mapping)


async def grouped(session: AsyncSession, column: Any, *conditions: Any) -> dict[str, int]:
    statement = select(column, func.count()).where(*conditions).group_by(column)
    return {str(key): count for key, count in (await session.execute(statement)).all()}


async def hosts_by_role(session: AsyncSession) -> dict[str, int]:
    statement = (
        select(func.coalesce(HostRole.name, "(none)"), func.count(Host.id))
        .select_from(Host)
        .outerjoin(HostRole, HostRole.id == Host.host_role_id)
        .group_by(HostRole.name)
    )
    return {str(name): count for name, count in (await session.execute(statement)).all()}


async def count(session: AsyncSession, model: Any, *conditions: Any) -> int:
    statement = select(func.count()).select_from(model).where(*conditions)
    return int(await session.scalar(statement) or 0)


async def overdue_tickets(session: AsyncSession, now: datetime) -> int:
    return await count(session, Ticket, overdue_condition(now))


async def open_tickets_by_priority(session: AsyncSession) -> dict[str, int]:
    return await grouped(session, Ticket.priority, Ticket.status.in_(UNFINISHED))


async def firing_alerts(session: AsyncSession) -> int:
    return await count(session, MonitoringAlert, MonitoringAlert.status == AlertStatus.firing)
