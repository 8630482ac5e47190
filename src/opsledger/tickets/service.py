"""Rules for tickets: priority sets the due date (the SLA), status moves along a fixed
path, and a failed job opens one by itself."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from opsledger.audit import changes
from opsledger.db.base import utcnow
from opsledger.jobs import repository as jobs
from opsledger.kit.errors import ValidationFailed, found
from opsledger.kit.pagination import Rows
from opsledger.notifications import events, outbox
from opsledger.security.context import Ctx
from opsledger.tickets import repository
from opsledger.tickets.models import Ticket, TicketPriority, TicketStatus
from opsledger.tickets.schemas import TicketCreate, TicketTransition, TicketUpdate

RESOURCE = "ticket"

# open → in_progress → resolved → closed; a resolved ticket may be reopened.
TICKET_TRANSITIONS: dict[TicketStatus, set[TicketStatus]] = {
    TicketStatus.open: {TicketStatus.in_progress},
    TicketStatus.in_progress: {TicketStatus.resolved},
    TicketStatus.resolved: {TicketStatus.closed, TicketStatus.open},
    TicketStatus.closed: set(),
}

# A failed job's description quotes its last lines, each cut to this length: 20 of them
# stay well inside every backend's TEXT (64 KiB on MariaDB) whatever a task printed.
LINE_CHARS = 2000

# What a failed job's host environment says about urgency.
ENVIRONMENT_PRIORITY = {"production": TicketPriority.high, "staging": TicketPriority.medium}


def due_at(ctx: Ctx, priority: TicketPriority, opened: datetime) -> datetime:
    return opened + timedelta(hours=ctx.settings.ticket_sla_hours[priority.value])


def priority_for_environment(environment: str | None) -> TicketPriority:
    return ENVIRONMENT_PRIORITY.get((environment or "").lower(), TicketPriority.low)


async def get(ctx: Ctx, ticket_id: int) -> Ticket:
    return found(await repository.get(ctx.session, ticket_id), f"ticket {ticket_id} does not exist")


async def page(
    ctx: Ctx, filters: dict[str, Any], overdue: bool | None, limit: int, after: int | None
) -> Rows[Ticket]:
    return await repository.page(ctx.session, filters, utcnow() if overdue else None, limit, after)


async def open_ticket(
    ctx: Ctx,
    job_id: int,
    title: str,
    description: str | None,
    priority: TicketPriority,
    created_by: int,
) -> Ticket:
    """Open a ticket on a job with the SLA's due date; its notifications are routed by
    its priority, the job's host environment and its run's template."""
    job = await jobs.for_run(ctx.session, job_id)
    if job is None:
        raise ValidationFailed(f"job {job_id} does not exist")
    now = utcnow()
    ticket = Ticket(
        job_id=job_id,
        created_by=created_by,
        title=title,
        description=description,
        priority=priority,
        due_at=due_at(ctx, priority, now),
        created_at=now,
        updated_at=now,
    )
    await changes.create(ctx, RESOURCE, ticket)
    template_id = job.run.template_id if job.run is not None else None
    await outbox.enqueue(ctx, events.ticket(ticket, "opened", job.host.environment, template_id))
    return ticket


async def create(ctx: Ctx, body: TicketCreate) -> Ticket:
    return await open_ticket(
        ctx, body.job_id, body.title, body.description, body.priority, ctx.user_id
    )


async def open_for_failed_job(
    ctx: Ctx,
    job_id: int,
    started_by: int,
    playbook: str,
    hostname: str,
    environment: str | None,
    last_lines: list[str],
) -> Ticket:
    """The ticket a failed job opens, in the same transaction as the job's status change:
    titled after playbook and host, the last log lines as description, and a priority
    from the host's environment (production high, staging medium, anything else low)."""
    shown = [
        line if len(line) <= LINE_CHARS else line[:LINE_CHARS] + " …" for line in last_lines[-20:]
    ]
    description = "Last output lines:\n" + "\n".join(shown) if shown else None
    return await open_ticket(
        ctx,
        job_id,
        f"Job {job_id} failed: {playbook} on {hostname}"[:255],
        description,
        priority_for_environment(environment),
        started_by,
    )


# A failed run's description: each failed host with its last lines, this many of each,
# for at most RUN_HOSTS hosts (within MariaDB's 64 KiB TEXT).
RUN_HOSTS = 50
RUN_LINES = 3
RUN_LINE_CHARS = 200


async def open_for_failed_run(
    ctx: Ctx,
    run_id: int,
    job_id: int,
    started_by: int,
    playbook: str,
    failed: list[tuple[str, str | None, list[str]]],
) -> Ticket:
    """The one ticket a failed run opens, on its first failed host's job: every failed
    host (hostname, environment, last lines) in the description, and the priority of the
    most urgent environment among them."""
    parts = []
    for hostname, _, lines in failed[:RUN_HOSTS]:
        shown = [line[:RUN_LINE_CHARS] for line in lines[-RUN_LINES:]]
        parts.append(f"{hostname}:\n" + "\n".join(f"  {line}" for line in shown))
    if len(failed) > RUN_HOSTS:
        parts.append(f"… and {len(failed) - RUN_HOSTS} more hosts")
    priorities = list(TicketPriority)
    priority = max(
        (priority_for_environment(environment) for _, environment, _ in failed),
        key=priorities.index,
    )
    return await open_ticket(
        ctx,
        job_id,
        f"Run {run_id} failed: {playbook} on {len(failed)} host(s)"[:255],
        "Failed hosts and their last output lines:\n\n" + "\n\n".join(parts),
        priority,
        started_by,
    )


async def update(ctx: Ctx, ticket_id: int, body: TicketUpdate) -> Ticket:
    ticket = await get(ctx, ticket_id)
    fields = body.changes()
    if fields.get("priority") == ticket.priority:  # the same: the due date stands
        del fields["priority"]
    if "priority" in fields:
        fields["due_at"] = due_at(ctx, fields["priority"], ticket.created_at)
        fields["overdue_notified_at"] = None  # a new due date is told once it lapses
    return await changes.update(ctx, RESOURCE, ticket, fields)


async def transition(ctx: Ctx, ticket_id: int, body: TicketTransition) -> Ticket:
    ticket = await get(ctx, ticket_id)
    now = utcnow()
    values: dict[str, Any] = {"updated_at": now}
    if body.status is TicketStatus.resolved:
        values["resolved_at"] = now
    elif body.status is TicketStatus.open:
        values["resolved_at"] = None
    return await changes.transition(ctx, RESOURCE, ticket, TICKET_TRANSITIONS, body.status, values)
