"""ticket.overdue: each server process looks for unfinished tickets past their SLA's due
date and tells each lapse once (marked on the ticket, audited, with its deliveries in
the same transaction)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.audit import changes
from opsledger.config import Settings
from opsledger.db.base import utcnow
from opsledger.db.session import session_factory, unit_of_work
from opsledger.jobs import repository as jobs
from opsledger.kit.periodic import Periodic
from opsledger.notifications import events, outbox
from opsledger.security.context import Ctx, system_context, worker_name
from opsledger.tickets import repository
from opsledger.tickets.service import RESOURCE

# Tickets told per transaction.
BATCH = 100


async def tell(ctx: Ctx, now: datetime) -> list[int]:
    """Tell up to BATCH lapses due by ``now``; the tickets told."""
    told = []
    for ticket in await repository.overdue_untold(ctx.session, now, BATCH):
        job = await jobs.for_run(ctx.session, ticket.job_id)
        environment = job.host.environment if job is not None else None
        template_id = job.run.template_id if job is not None and job.run is not None else None
        await outbox.enqueue(ctx, events.ticket(ticket, "overdue", environment, template_id))
        await changes.update(ctx, RESOURCE, ticket, {"overdue_notified_at": now}, action="overdue")
        told.append(ticket.id)
    return told


async def tell_due(
    engine: AsyncEngine, settings: Settings, now: datetime | None = None
) -> list[int]:
    """Tell every lapse due by ``now`` (default: the clock's), a batch per transaction;
    the tickets this process told."""
    now = now or utcnow()
    sessions = session_factory(engine)
    told: list[int] = []
    while True:
        async with unit_of_work(sessions) as session:
            batch = await tell(system_context(session, settings, worker_name("tickets")), now)
        told.extend(batch)
        if len(batch) < BATCH:
            return told


PERIODIC = Periodic(
    "overdue-tickets",
    every=lambda settings: settings.ticket_overdue_poll_seconds,
    first_delay=5.0,
    run=tell_due,
)
