"""The numbers an operator looks at first."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.db.base import utcnow
from opsledger.hosts.models import Host
from opsledger.jobs.models import Job
from opsledger.stats import repository
from opsledger.stats.schemas import Stats


async def collect(session: AsyncSession) -> Stats:
    return Stats(
        totals=await repository.totals(session),
        hosts_by_status=await repository.grouped(session, Host.status),
        hosts_by_role=await repository.hosts_by_role(session),
        jobs_by_status=await repository.grouped(session, Job.status),
        open_tickets_by_priority=await repository.open_tickets_by_priority(session),
        overdue_tickets=await repository.overdue_tickets(session, utcnow()),
        firing_alerts=await repository.firing_alerts(session),
    )


async def jobs_by_status(session: AsyncSession) -> dict[str, int]:
    return await repository.grouped(session, Job.status)
