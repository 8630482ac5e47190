"""Rules for freeze windows: their shape and scope, when each is open, and the one guard
every launch passes (runs, single-host jobs, schedule fires, triggers): a launch on a host
a window holds is refused with 409 naming the window and its end, unless an admin gives
a reason, which is audited."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

from opsledger.audit import changes
from opsledger.audit import service as audit
from opsledger.db.base import utcnow
from opsledger.freeze_windows import repository
from opsledger.freeze_windows.models import FreezeWindow
from opsledger.freeze_windows.schemas import FreezeWindowCreate, FreezeWindowUpdate, check_shape
from opsledger.host_roles import repository as host_roles
from opsledger.hosts.models import Host
from opsledger.kit.errors import Conflict, Forbidden, ValidationFailed, found
from opsledger.kit.pagination import Rows
from opsledger.schedules import cron
from opsledger.security import policy
from opsledger.security.context import Ctx

RESOURCE = "freeze_window"
OVERRIDE = "freeze_windows:write"
# Later times of a recurring window that begin before the current one ends extend it;
# a window that never closes (``* * * * *`` for an hour) is followed this far.
MAX_CHAINED = 1_000


class Frozen(Conflict):
    """A launch a freeze window holds back."""


@dataclass(frozen=True)
class Opening:
    """A window open at some instant: since when and until when."""

    window: FreezeWindow
    starts_at: datetime
    ends_at: datetime


async def get(ctx: Ctx, window_id: int) -> FreezeWindow:
    return found(
        await repository.get(ctx.session, window_id), f"freeze window {window_id} does not exist"
    )


async def by_reference(ctx: Ctx, reference: str) -> FreezeWindow:
    """A window by name or id (the CLI's argument)."""
    return found(
        await repository.by_reference(ctx.session, reference),
        f"freeze window {reference!r} does not exist",
    )


async def page(
    ctx: Ctx, filters: dict[str, Any], limit: int, after: int | None
) -> Rows[FreezeWindow]:
    return await repository.page(ctx.session, filters, limit, after)


async def _check(ctx: Ctx, fields: dict[str, Any], other_than: int | None) -> None:
    name = fields.get("name")
    if name is not None and await repository.name_taken(ctx.session, name, other_than):
        raise Conflict(f"a freeze window named {name!r} already exists")
    role_ids = fields.get("host_role_ids") or []
    known = {role.id for role in await host_roles.by_ids(ctx.session, role_ids)}
    missing = [str(role_id) for role_id in role_ids if role_id not in known]
    if missing:
        raise ValidationFailed(f"host_role_ids: no host role has the id {', '.join(missing)}")


async def create(ctx: Ctx, body: FreezeWindowCreate) -> FreezeWindow:
    fields = body.model_dump()
    await _check(ctx, fields, None)
    return await changes.create(ctx, RESOURCE, FreezeWindow(**fields))


async def update(ctx: Ctx, window_id: int, body: FreezeWindowUpdate) -> FreezeWindow:
    window = await get(ctx, window_id)
    fields = body.changes()
    merged = {name: getattr(window, name) for name in FreezeWindowCreate.model_fields} | fields
    try:
        check_shape(merged)
    except ValueError as exc:
        raise ValidationFailed(str(exc)) from None
    await _check(ctx, fields, window.id)
    return await changes.update(ctx, RESOURCE, window, fields)


async def delete(ctx: Ctx, window_id: int) -> None:
    await changes.remove(ctx, RESOURCE, await get(ctx, window_id))


def opening(window: FreezeWindow, now: datetime) -> Opening | None:
    """The window's time that covers ``now`` (its start inclusive, its end exclusive)."""
    if window.cron is None or window.duration_minutes is None:
        if window.starts_at is None or window.ends_at is None:
            return None
        return (
            Opening(window, window.starts_at, window.ends_at)
            if (window.starts_at <= now < window.ends_at)
            else None
        )
    length = timedelta(minutes=window.duration_minutes)
    times = cron.times(window.cron, window.timezone, now - length)
    first = next(times, None)
    if first is None or first > now:
        return None
    ends_at = first + length
    for later in islice(times, MAX_CHAINED):
        if later > ends_at:
            break
        ends_at = later + length
    return Opening(window, first, ends_at)


async def open_at(ctx: Ctx, now: datetime | None = None) -> list[Opening]:
    """Every window open at ``now`` (default: the clock's)."""
    now = now or utcnow()
    windows = await repository.candidates(ctx.session, now)
    return [found for window in windows if (found := opening(window, now)) is not None]


def holds(window: FreezeWindow, host: Host) -> bool:
    if window.environments:
        return host.environment in window.environments
    if window.host_role_ids:
        return host.host_role_id in window.host_role_ids
    return True


async def holding(
    ctx: Ctx, hosts: Sequence[Host], now: datetime | None = None
) -> list[tuple[Opening, list[Host]]]:
    """Each window open at ``now`` that holds some of ``hosts``, with the hosts it holds."""
    held = [
        (opened, [host for host in hosts if holds(opened.window, host)])
        for opened in await open_at(ctx, now)
    ]
    return [(opened, hosts_held) for opened, hosts_held in held if hosts_held]


def _said(opened: Opening, hosts_held: Sequence[Host]) -> str:
    names = ", ".join(host.hostname for host in hosts_held[:5])
    more = f" and {len(hosts_held) - 5} more" if len(hosts_held) > 5 else ""
    return (
        f"freeze window {opened.window.name!r} holds {names}{more} until "
        f"{opened.ends_at.isoformat()}"
    )


async def guard(
    ctx: Ctx,
    hosts: Sequence[Host],
    override_reason: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Let a launch on ``hosts`` through, or refuse it (409 naming the first window that
    holds one of them and its end). An admin's ``override_reason`` lets it through past
    every window that holds it, each with an audit row naming the reason and the hosts.
    True when it went through by the override."""
    held = await holding(ctx, hosts, now)
    if not held:
        return False
    said = _said(*held[0])
    if override_reason is None:
        raise Frozen(f"{said}; an admin may launch with override_reason")
    # Overriding is the windows' own admin action: an admin's key must be scoped to it too.
    if ctx.actor is None or not policy.allows(ctx.actor.role, OVERRIDE, ctx.actor.scopes):
        raise Forbidden(f"{said}; only an admin (a key scoped to {OVERRIDE}) may override it")
    await overridden(ctx, held, override_reason)
    return True


async def overridden(ctx: Ctx, held: Sequence[tuple[Opening, Sequence[Host]]], reason: str) -> None:
    """An audit row per window an override goes past, naming the reason and the hosts."""
    for opened, hosts_held in held:
        after = {
            "reason": reason,
            "host_ids": [host.id for host in hosts_held],
            "until": opened.ends_at.isoformat(),
        }
        audit.record(ctx, "override", RESOURCE, opened.window.id, after=after)


async def held_back(
    ctx: Ctx, hosts: Sequence[Host], override_reason: str | None, now: datetime | None = None
) -> str | None:
    """Why a launched run's next batch on ``hosts`` may not start now (a window that
    opened since holds one of them), or None: the run's own override, an admin's given
    at launch, goes past them (audited again)."""
    held = await holding(ctx, hosts, now)
    if not held:
        return None
    if override_reason is not None:
        await overridden(ctx, held, override_reason)
        return None
    return _said(*held[0])
