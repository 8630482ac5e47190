"""The outbox: an event's deliveries, one per channel its rules route it to, written in
the transaction of the change that caused the event. A commit keeps them whatever
happens to the process next; a rollback takes them back before anything is sent."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from pydantic_core import to_jsonable_python

from opsledger.alerts.models import AlertSeverity
from opsledger.db.base import utcnow
from opsledger.db.session import when_committed
from opsledger.kit.periodic import Nudge
from opsledger.notifications import repository
from opsledger.notifications.events import Event
from opsledger.notifications.models import BROADER
from opsledger.security.context import Ctx
from opsledger.tickets.models import TicketPriority

PRIORITIES = list(TicketPriority)
# Set once deliveries this process wrote are committed: its dispatcher sends them at the
# runtime's next tick (OPSLEDGER_JOB_POLL_SECONDS), not its next poll.
WRITTEN = Nudge()
WRITING = "opsledger.notifications.writing"
SEVERITIES = list(AlertSeverity)


def payload(ctx: Ctx, event: Event) -> dict[str, Any]:
    """The message as every channel kind renders it."""
    base = (ctx.settings.public_url or "").rstrip("/")
    return {
        "text": event.text,
        "subject": {"type": event.subject, "id": event.subject_id},
        "link": f"{base}{event.path}" if base else None,
        "occurred_at": utcnow().isoformat(),
        "environments": sorted(event.environments),
        "template_id": event.template_id,
        "facts": to_jsonable_python(
            {key: value for key, value in event.facts.items() if value is not None}
        ),
    }


async def enqueue(ctx: Ctx, event: Event) -> int:
    """Write the event's deliveries in the caller's transaction; how many."""
    return await enqueue_all(ctx, [event])


async def _channels(ctx: Ctx, event: Event) -> dict[int, int]:
    """channel id → the id of its oldest rule that routes the event there. A channel two
    rules route the event to (its own and its broader event's) gets one delivery."""
    meets = PRIORITIES[: PRIORITIES.index(event.priority) + 1] if event.priority else []
    severe = SEVERITIES[: SEVERITIES.index(event.severity) + 1] if event.severity else []
    names = [event.name, *([BROADER[event.name]] if event.name in BROADER else [])]
    routes = await repository.routes(
        ctx.session, names, event.environments, event.template_id, meets, severe
    )
    first: dict[int, int] = {}
    for rule_id, channel_id in routes:
        first.setdefault(channel_id, rule_id)
    return first


async def enqueue_all(ctx: Ctx, events: Sequence[Event]) -> int:
    """``enqueue`` for each event, in one insert: events that route alike (name,
    environments, template, priority, severity) share one routing query."""
    now = utcnow()
    routed: dict[tuple[Any, ...], dict[int, int]] = {}
    rows: list[dict[str, Any]] = []
    for event in events:
        alike = (event.name, event.environments, event.template_id, event.priority, event.severity)
        if alike not in routed:
            routed[alike] = await _channels(ctx, event)
        first = routed[alike]
        body = payload(ctx, event) if first else {}
        rows.extend(
            {
                "uuid": uuid.uuid4(),
                "channel_id": channel_id,
                "rule_id": rule_id,
                "event": event.name.value,
                "payload": body,
                "tries_left": ctx.settings.notify_max_attempts,
                "next_attempt_at": now,
                "created_at": now,
            }
            for channel_id, rule_id in first.items()
        )
    await repository.add_deliveries(ctx.session, rows)
    if rows and WRITING not in ctx.session.info:  # one wake-up per transaction
        session = ctx.session
        session.info[WRITING] = True

        def written() -> None:
            session.info.pop(WRITING, None)
            WRITTEN.set()

        when_committed(session, written)
    return len(rows)
