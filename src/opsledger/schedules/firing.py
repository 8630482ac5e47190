"""Firing schedules: each due time becomes one run, however many server processes (each
with its pool, embedded or Celery) look at once. A fire moves ``next_run_at`` by
compare-and-set in the same transaction as the run it creates and the fire it records,
so of two processes that see the same due time one fires it and the other does nothing.

The next due time is always the first one after now: after downtime a schedule fires
at most once (``run_once``) or records the skip (``skip``), never a burst."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from itertools import islice

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.audit import changes
from opsledger.config import Settings
from opsledger.db.base import utcnow
from opsledger.db.session import session_factory, unit_of_work
from opsledger.freeze_windows.service import Frozen
from opsledger.kit.errors import Conflict, NotFound, ValidationFailed
from opsledger.kit.periodic import Periodic
from opsledger.notifications import events, outbox
from opsledger.runs import service as runs
from opsledger.schedules import repository
from opsledger.schedules.models import (
    FireOutcome,
    MissedPolicy,
    OverlapPolicy,
    Schedule,
    ScheduleFire,
)
from opsledger.schedules.service import RESOURCE, launch_of, next_due, upcoming
from opsledger.security.context import Ctx, system_context, worker_name
from opsledger.security.policy import allows
from opsledger.users import service as users

log = logging.getLogger(__name__)

# Schedules fired per transaction: one commit, and one append to the audit chain, for
# each batch. Another process's batch is passed over (its rows are locked), so two
# processes fire different batches side by side.
BATCH = 50
# Missed times are counted up to this many for the record.
MAX_COUNTED = 10_000


@dataclass(frozen=True)
class Fired:
    schedule_id: int
    due_at: datetime
    outcome: FireOutcome
    run_id: int | None


async def fire_due(
    engine: AsyncEngine, settings: Settings, now: datetime | None = None
) -> list[Fired]:
    """Fire every schedule due at ``now`` (default: the clock's), a batch per
    transaction; what this process fired (another may have fired the rest)."""
    now = now or utcnow()
    sessions = session_factory(engine)
    name = worker_name("scheduler")
    fired: list[Fired] = []
    after = 0
    while True:
        async with unit_of_work(sessions) as session:
            ctx = system_context(session, settings, name)
            due = await repository.claim_due(session, now, BATCH, after)
            outcomes = [await _isolated(ctx, schedule, now) for schedule in due]
        fired.extend(outcome for outcome in outcomes if outcome is not None)
        if len(due) < BATCH:
            return fired
        after = due[-1].id


async def _isolated(ctx: Ctx, schedule: Schedule, now: datetime) -> Fired | None:
    """One fire of a batch in its own savepoint: a database error in it undoes only it
    (logged; the schedule stays due and the next pass tries again)."""
    try:
        async with ctx.session.begin_nested():
            return await _fire(ctx, schedule, now)
    except SQLAlchemyError:
        log.exception("schedule %s could not fire; the next pass tries again", schedule.id)
        return None


async def fire(ctx: Ctx, schedule_id: int, now: datetime) -> Fired | None:
    """Fire one schedule, as ``fire_due`` would if it were due at ``now``. None: nothing
    to do, or another process is firing it now."""
    schedule = await repository.unclaimed(ctx.session, schedule_id)
    return None if schedule is None else await _fire(ctx, schedule, now)


async def _fire(ctx: Ctx, schedule: Schedule, now: datetime) -> Fired | None:
    """Fire the locked schedule if a time of it is due at ``now`` and no one fired it
    first: a waiting (queued) fire whose run has ended, else its due time."""
    if not schedule.enabled:
        return None
    if schedule.queued_at is not None:
        released = await _release(ctx, schedule, schedule.queued_at, now)
        if released is not None:
            return released
    due_at = schedule.next_run_at
    if due_at is None or due_at > now:
        return None
    following = next_due(schedule, now)
    expected, values = {"next_run_at": due_at}, {"next_run_at": following}
    async with changes.claim(ctx, RESOURCE, schedule, expected, values, action="fire") as won:
        return await _due(ctx, schedule, due_at, following, now) if won else None


async def _due(
    ctx: Ctx, schedule: Schedule, due_at: datetime, following: datetime | None, now: datetime
) -> Fired:
    """What the claimed due time comes to, by the missed and overlap policies."""
    reason = None
    if (now - due_at).total_seconds() > ctx.settings.schedule_missed_after_seconds:
        missed = _missed(schedule, due_at, now)
        if schedule.missed is MissedPolicy.skip:
            then = "none left" if following is None else f"next at {following.isoformat()}"
            why = f"missed {missed} from {due_at.isoformat()} while no server fired it; {then}"
            return await _record(ctx, schedule, due_at, FireOutcome.skipped, reason=why)
        reason = f"one catch-up run for {missed} from {due_at.isoformat()}"
    running = schedule.last_run_id
    if running is not None and not await runs.has_ended(ctx.session, running):
        busy = f"run {running} has not ended"
        if schedule.overlap is OverlapPolicy.queue and schedule.queued_at is None:
            schedule.queued_at = due_at
            return await _record(ctx, schedule, due_at, FireOutcome.queued, reason=busy)
        if schedule.overlap is not OverlapPolicy.allow:
            return await _record(ctx, schedule, due_at, FireOutcome.skipped, reason=busy)
    return await _launch(ctx, schedule, due_at, now, reason)


async def _release(
    ctx: Ctx, schedule: Schedule, queued_at: datetime, now: datetime
) -> Fired | None:
    """The waiting fire, once the run it waited for has ended."""
    running = schedule.last_run_id
    if running is not None and not await runs.has_ended(ctx.session, running):
        return None
    expected, values = {"queued_at": queued_at}, {"queued_at": None}
    async with changes.claim(ctx, RESOURCE, schedule, expected, values, action="fire") as won:
        if not won:
            return None
        return await _launch(ctx, schedule, queued_at, now, f"waited for run {running} to end")


def _missed(schedule: Schedule, due_at: datetime, now: datetime) -> str:
    later = sum(1 for moment in islice(upcoming(schedule, due_at), MAX_COUNTED) if moment <= now)
    return "1 time" if later == 0 else f"{later + 1} times"


async def _launch(
    ctx: Ctx, schedule: Schedule, due_at: datetime, now: datetime, reason: str | None
) -> Fired:
    """The run of the due time (within its claim), as the schedule's owner; a launch the
    template refuses now (no host matches, a prompt value no longer allowed) or an owner
    who may no longer sign in is recorded as failed; one a freeze window holds back, as
    skipped."""
    owner = await users.get(ctx, schedule.user_id)
    refusal = None
    if not owner.is_active:
        refusal = f"its owner {owner.username} is deactivated"
    elif not allows(owner.role, "jobs:run"):
        refusal = f"its owner {owner.username} may not launch runs"
    if refusal is not None:
        return await _record(ctx, schedule, due_at, FireOutcome.failed, reason=refusal)
    try:
        async with ctx.session.begin_nested():
            run = await runs.launch_template(
                ctx, schedule.template_id, launch_of(schedule), started_by=schedule.user_id, now=now
            )
    except Frozen as frozen:
        return await _record(ctx, schedule, due_at, FireOutcome.skipped, reason=frozen.detail)
    except (ValidationFailed, NotFound, Conflict) as refused:
        log.warning("schedule %s could not launch: %s", schedule.id, refused.detail)
        return await _record(ctx, schedule, due_at, FireOutcome.failed, reason=refused.detail)
    # Within the claim of the due time: its one audit row shows this too.
    schedule.last_run_at, schedule.last_run_id = now, run.id
    return await _record(ctx, schedule, due_at, FireOutcome.launched, run.id, reason)


async def _record(
    ctx: Ctx,
    schedule: Schedule,
    due_at: datetime,
    outcome: FireOutcome,
    run_id: int | None = None,
    reason: str | None = None,
) -> Fired:
    fire = ScheduleFire(
        schedule_id=schedule.id, due_at=due_at, outcome=outcome, run_id=run_id, reason=reason
    )
    await repository.add_fire(ctx.session, fire)
    if outcome in (FireOutcome.skipped, FireOutcome.failed):
        await outbox.enqueue(ctx, events.schedule(schedule, due_at, outcome.value, reason))
    return Fired(schedule.id, due_at, outcome, run_id)


PERIODIC = Periodic(
    "schedules",
    every=lambda settings: settings.schedule_poll_seconds,
    first_delay=1.0,
    run=fire_due,
)
