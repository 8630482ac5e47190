"""Rules for schedules: a template that exists, launch values its prompts accept (checked
when saved, and again at each fire), one timing (cron in a zone, or once), the next due
time kept in UTC, and the times a schedule will fire."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from itertools import islice
from typing import Any

from opsledger.audit import changes
from opsledger.audit.snapshots import MASK
from opsledger.db.base import utcnow
from opsledger.kit.errors import Conflict, ValidationFailed, found
from opsledger.kit.pagination import Rows
from opsledger.schedules import cron, repository
from opsledger.schedules.models import Schedule, ScheduleFire
from opsledger.schedules.schemas import LAUNCH, ScheduleCreate, ScheduleUpdate
from opsledger.security.context import Ctx
from opsledger.security.launchers import may_change, may_launch
from opsledger.templates import prompts as prompt_rules
from opsledger.templates import repository as templates_repository
from opsledger.templates import service as templates
from opsledger.templates.schemas import TemplateLaunch

RESOURCE = "schedule"
TIMING = ("cron", "run_at", "timezone", "ends_at")


async def get(ctx: Ctx, schedule_id: int) -> Schedule:
    return found(
        await repository.get(ctx.session, schedule_id), f"schedule {schedule_id} does not exist"
    )


async def by_reference(ctx: Ctx, reference: str) -> Schedule:
    """A schedule by name or id (the CLI's argument)."""
    return found(
        await repository.by_reference(ctx.session, reference),
        f"schedule {reference!r} does not exist",
    )


async def page(ctx: Ctx, filters: dict[str, Any], limit: int, after: int | None) -> Rows[Schedule]:
    return await repository.page(ctx.session, filters, limit, after)


async def fires_page(
    ctx: Ctx, schedule_id: int, limit: int, after: int | None
) -> Rows[ScheduleFire]:
    """The schedule's fires and skips, newest first."""
    await get(ctx, schedule_id)
    return await repository.fires_page(ctx.session, schedule_id, limit, after)


def timeline(
    expression: str | None,
    run_at: datetime | None,
    zone_name: str,
    ends_at: datetime | None,
    after: datetime,
) -> Iterator[datetime]:
    """The UTC instants a timing names strictly after ``after``, up to ``ends_at``."""
    moments = cron.times(expression, zone_name, after) if expression else iter([run_at])
    for moment in moments:
        if moment is None or moment <= after:
            continue
        if ends_at is not None and moment > ends_at:
            return
        yield moment


def upcoming(schedule: Schedule, after: datetime) -> Iterator[datetime]:
    return timeline(schedule.cron, schedule.run_at, schedule.timezone, schedule.ends_at, after)


def next_due(schedule: Schedule, after: datetime) -> datetime | None:
    """The first time the schedule fires after ``after``: None once none is left."""
    return next(upcoming(schedule, after), None)


def preview(schedule: Schedule, count: int, now: datetime | None = None) -> list[datetime]:
    return list(islice(upcoming(schedule, now or utcnow()), count))


def preview_cron(
    expression: str, zone_name: str, count: int, now: datetime | None = None
) -> list[datetime]:
    return list(islice(timeline(expression, None, zone_name, None, now or utcnow()), count))


def launch_of(schedule: Schedule) -> TemplateLaunch:
    """What each fire sends to its template, secret prompt values in the clear."""
    values = {**(schedule.prompts or {}), **_secrets(schedule)}
    return TemplateLaunch.model_validate({**schedule.launch, "prompts": values or None})


def _secrets(schedule: Schedule) -> dict[str, Any]:
    return json.loads(schedule.secret_prompts) if schedule.secret_prompts else {}


async def _prompt_columns(
    ctx: Ctx,
    template_id: int,
    given: dict[str, Any],
    *,
    from_text: bool = False,
    kept: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The prompt values ``given`` checked against the template's prompts as a launch
    checks them (422 naming each refused one), as the columns keep them: the secret ones
    encrypted apart, shown masked. Only the values given are kept: a template's defaults
    apply as they are when a fire launches it. A value given masked stands for the secret
    ``kept`` under its name, for a prompt that is secret on this template; one that is not
    must be typed (a secret is never stored in the clear)."""
    template = await templates_repository.get(ctx.session, template_id)
    if template is None:
        raise ValidationFailed.at("template_id", f"job template {template_id} does not exist")
    prompts = templates.prompts_of(template)
    plain = {prompt.name for prompt in prompts if prompt.type is not prompt_rules.PromptType.secret}
    given = dict(given)
    for name, value in given.items():
        if value != MASK or name not in (kept or {}):
            continue
        if name in plain:
            message = "a secret is kept for it, but this prompt is not secret: type its value"
            raise ValidationFailed.at(["prompts", name], message)
        given[name] = (kept or {})[name]  # a prompt it has not is refused as unknown below
    resolved = await templates.resolve_prompts(ctx.session, prompts, given, from_text=from_text)
    kept = {name: value for name, value in resolved.values.items() if name in given}
    secrets = {name: value for name, value in kept.items() if name in resolved.secret_names}
    masked = prompt_rules.mask(kept, resolved.secret_names)
    return {
        "prompts": masked or None,
        "secret_prompts": json.dumps(secrets) if secrets else None,
    }


async def _check(ctx: Ctx, fields: dict[str, Any], now: datetime, other_than: int | None) -> None:
    name = fields.get("name")
    if name is not None and await repository.name_taken(ctx.session, name, other_than):
        raise Conflict(f"a schedule named {name!r} already exists")
    for field in ("run_at", "ends_at"):
        moment = fields.get(field)
        if moment is not None and moment <= now:
            raise ValidationFailed.at(field, "lies in the past")


async def create(
    ctx: Ctx,
    body: ScheduleCreate,
    *,
    owner_id: int | None = None,
    from_text: bool = False,
    now: datetime | None = None,
) -> Schedule:
    """A schedule whose fires are runs of ``owner_id`` (default: the acting user);
    ``from_text``: its prompt values are a command line's text."""
    may_launch(ctx, RESOURCE)
    now = now or utcnow()
    fields = body.model_dump(exclude={"prompts", *LAUNCH})
    await _check(ctx, fields, now, None)
    schedule = Schedule(
        **fields,
        **await _prompt_columns(ctx, body.template_id, body.prompts or {}, from_text=from_text),
        user_id=ctx.user_id if owner_id is None else owner_id,
        launch=body.model_dump(include=set(LAUNCH), exclude_none=True, mode="json"),
    )
    schedule.next_run_at = next_due(schedule, now) if body.enabled else None
    return await changes.create(ctx, RESOURCE, schedule)


async def update(
    ctx: Ctx,
    schedule_id: int,
    body: ScheduleUpdate,
    *,
    from_text: bool = False,
    now: datetime | None = None,
) -> Schedule:
    """The schedule changed as ``body`` says; ``from_text``: its prompt values are a form's
    text. A secret prompt's value sent as it is read (masked) keeps the value stored."""
    may_launch(ctx, RESOURCE)
    now = now or utcnow()
    schedule = await get(ctx, schedule_id)
    may_change(ctx, RESOURCE, schedule.user_id)
    fields = body.changes()
    if fields.get("cron") is not None and "run_at" not in fields:
        fields["run_at"] = None
    if fields.get("run_at") is not None and "cron" not in fields:
        fields["cron"] = None
    expression = fields.get("cron", schedule.cron)
    if (expression is None) == (fields.get("run_at", schedule.run_at) is None):
        raise ValidationFailed.at("cron", "give exactly one of cron and run_at")
    await _check(ctx, fields, now, schedule.id)
    stored = {name: value for name, value in fields.items() if name not in (*LAUNCH, "prompts")}
    sent = body.model_dump(mode="json", include=set(LAUNCH) & set(fields))
    if sent:
        launch = {**schedule.launch, **sent}
        stored["launch"] = {name: value for name, value in launch.items() if value is not None}
    if "prompts" in fields or "template_id" in fields:
        # The values kept (a secret one masked) unless others are given.
        given = (fields["prompts"] or {}) if "prompts" in fields else (schedule.prompts or {})
        template_id = fields.get("template_id", schedule.template_id)
        stored |= await _prompt_columns(
            ctx, template_id, given, from_text=from_text, kept=_secrets(schedule)
        )
    if schedule.enabled and any(name in fields for name in TIMING):
        timing = {name: fields.get(name, getattr(schedule, name)) for name in TIMING}
        stored["next_run_at"] = next(
            timeline(timing["cron"], timing["run_at"], timing["timezone"], timing["ends_at"], now),
            None,
        )
    return await changes.update(ctx, RESOURCE, schedule, stored)


async def enable(ctx: Ctx, schedule_id: int, *, now: datetime | None = None) -> Schedule:
    """Fire again from now on: the times passed while it was disabled are not missed."""
    may_launch(ctx, RESOURCE)
    schedule = await get(ctx, schedule_id)
    may_change(ctx, RESOURCE, schedule.user_id)
    if schedule.enabled:
        return schedule
    values = {"enabled": True, "next_run_at": next_due(schedule, now or utcnow())}
    return await changes.update(ctx, RESOURCE, schedule, values, action="enable")


async def disable(ctx: Ctx, schedule_id: int) -> Schedule:
    schedule = await get(ctx, schedule_id)
    if not schedule.enabled:
        return schedule
    values = {"enabled": False, "next_run_at": None, "queued_at": None}
    return await changes.update(ctx, RESOURCE, schedule, values, action="disable")


async def delete(ctx: Ctx, schedule_id: int) -> None:
    schedule = await get(ctx, schedule_id)
    may_change(ctx, RESOURCE, schedule.user_id)
    await changes.remove(ctx, RESOURCE, schedule)
