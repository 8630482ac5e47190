"""Console pages for schedules: the list with each one's next time, a schedule with its
next times (in its zone and UTC) and its history of fires and skips, changing when it
runs, enabling, disabling and deleting it, and scheduling a template from a form built
from its prompts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from opsledger.audit.snapshots import MASK
from opsledger.db.dependencies import PrimaryReadSession, WriteSession
from opsledger.kit.errors import NotFound, ValidationFailed
from opsledger.kit.http import PathId
from opsledger.kit.pagination import Rows
from opsledger.schedules import cron
from opsledger.schedules import service as schedules
from opsledger.schedules.models import MissedPolicy, OverlapPolicy, Schedule
from opsledger.schedules.schemas import (
    ScheduleCreate,
    ScheduleQuery,
    ScheduleUpdate,
    TimingPreviewQuery,
)
from opsledger.security.context import Ctx
from opsledger.security.policy import allows
from opsledger.templates import service as templates
from opsledger.templates.models import JobTemplate
from opsledger.templates.prompts import PromptType
from opsledger.web import forms
from opsledger.web.console import (
    act,
    change_one,
    common,
    from_form,
    frozen,
    list_page,
    page_of_one,
    page_router,
    refuse,
    render,
)
from opsledger.web.forms import Csrf, QueryId
from opsledger.web.job_templates import (
    LAUNCH_FIELDS,
    launch_choices,
    launch_form,
    launch_options,
    read_launch,
    shown_prompts,
)

router = page_router()
WRITE = "schedules:write"
NEXT_TIMES = 10
FIRES_SHOWN = 50
# What the schedule form asks besides the launch's own fields.
TIMING = ("name", "cron", "run_at", "timezone", "ends_at", "missed", "overlap")
TIMES = frozenset({"run_at", "ends_at", "starts_at"})  # a form's local times, read in its zone
PLAIN = frozenset({"name", "missed", "overlap"})
# A schedule's launch options that follow its template until changed on its page.
FOLLOWED = frozenset({"check", "diff", "verbosity"})


@router.get("/schedules")
async def schedule_list(request: Request, session: PrimaryReadSession) -> Response:
    async def fetch(ctx: Ctx, query: ScheduleQuery) -> Rows[Any]:
        return await schedules.page(ctx, query.filters(), query.limit, query.after)

    return await list_page(
        request, session, "schedules:read", "schedules.html", ScheduleQuery, fetch, local=local
    )


def in_zone(moment: datetime, zone_name: str) -> datetime:
    """An instant as a zone reads it; in UTC when the zone's reading would fall past the
    calendar (late on 9999-12-31, east of UTC)."""
    try:
        return moment.astimezone(cron.zone(zone_name))
    except OverflowError:
        return moment


def local(moment: datetime | None, zone_name: str) -> str:
    """An instant as the schedule's zone reads it, with the zone's abbreviation."""
    if moment is None:
        return "—"
    return in_zone(moment, zone_name).strftime("%Y-%m-%d %H:%M %Z")


def typed(moment: datetime | None, zone_name: str) -> str:
    """An instant as a form's local date and time field shows it, in the zone."""
    return "" if moment is None else in_zone(moment, zone_name).strftime("%Y-%m-%dT%H:%M")


def changed(sent: dict[str, str], shown: dict[str, str]) -> set[str]:
    """The fields of a form whose text differs from what the page showed in them: the
    rest are sent on unchanged (a time shown to the minute, or in a repeated hour, would
    not read back as the instant stored; a time past would be refused)."""
    moved = {name for name, value in sent.items() if value != shown.get(name, "")}
    if "timezone" in moved:  # the times typed are read in the new zone
        moved |= {name for name in sent if name in TIMES}
    return moved


@dataclass(frozen=True)
class Trial:
    """A cron expression tried on a schedule page before it is saved: its next times."""

    try_cron: str = ""
    try_zone: str = "UTC"

    def shown(self) -> dict[str, Any]:
        """What the page shows of it: the expression, the zone, and the next times (in
        the zone and UTC) or why there are none."""
        tried: dict[str, Any] = {"cron": self.try_cron, "zone": self.try_zone, "times": []}
        if not self.try_cron:
            return tried
        try:
            query = TimingPreviewQuery.model_validate(
                {"cron": self.try_cron, "timezone": self.try_zone, "count": NEXT_TIMES}
            )
        except ValidationError as exc:
            tried["error"] = "; ".join(error["msg"] for error in exc.errors())
            return tried
        tried["times"] = schedules.preview_cron(query.cron, query.timezone, query.count)
        return tried


def _trial(
    try_cron: Annotated[str, Query(max_length=200)] = "",
    try_zone: Annotated[str, Query(max_length=100)] = "UTC",
) -> Trial:
    return Trial(try_cron, try_zone)


Tried = Annotated[Trial, Depends(_trial)]


@router.get("/schedules/{schedule_id}")
async def schedule_page(
    request: Request,
    session: PrimaryReadSession,
    schedule_id: PathId,
    trial: Tried,
    template_id: QueryId = None,
    after: QueryId = None,
) -> Response:
    """A schedule; with ``template_id``, its values form is for that template: the first
    step of moving the schedule to it; ``after``: its fires older than that one."""
    found = await page_of_one(
        request, session, "schedules:read", lambda ctx: schedules.get(ctx, schedule_id)
    )
    if isinstance(found, Response):
        return found
    ctx, schedule = found
    try:
        moving = await _moving_to(ctx, schedule, template_id)
    except ValidationFailed as exc:
        return refuse(request, 404, exc.detail)
    return await _page(request, ctx, schedule, moving=moving, trial=trial, after=after)


def _template_id(posted: FormData) -> int | None:
    """The template a values form moves its schedule to, if it names one."""
    wanted = posted.get("template_id")
    if not wanted:
        return None
    number = forms.id_of(wanted)
    if not number:
        raise ValidationFailed.at("template_id", "not a job template's id")
    return number


async def _moving_to(ctx: Ctx, schedule: Schedule, template_id: int | None) -> JobTemplate | None:
    """The template the schedule is being moved to, or None (it stays on its own);
    ValidationFailed when there is no such template."""
    if template_id is None or template_id == schedule.template_id:
        return None
    try:
        return await templates.get(ctx, template_id)
    except NotFound as exc:
        raise ValidationFailed.at("template_id", exc.detail) from None


def _timing_of(schedule: Schedule) -> dict[str, str]:
    """When a schedule runs, as its form shows it (times in its zone)."""
    return {
        "name": schedule.name,
        "cron": schedule.cron or "",
        "run_at": typed(schedule.run_at, schedule.timezone),
        "timezone": schedule.timezone,
        "ends_at": typed(schedule.ends_at, schedule.timezone),
        "missed": schedule.missed,
        "overlap": schedule.overlap,
    }


async def _page(
    request: Request,
    ctx: Ctx,
    schedule: Schedule,
    status: int = 200,
    errors: dict[str, str] | None = None,
    sent: dict[str, str] | None = None,
    values: FormData | None = None,
    moving: JobTemplate | None = None,
    trial: Trial | None = None,
    after: int | None = None,
) -> Response:
    """A schedule; after a refused change of its timing (``sent``) or of what it runs
    with (``values``), why beside each field and what was typed. The values form is for
    the template it is ``moving`` to, if any."""
    fires = await schedules.fires_page(ctx, schedule.id, FIRES_SHOWN, after)
    template = await templates.get(ctx, schedule.template_id)
    runs = moving or template
    writer = allows(ctx.user.role, WRITE, ctx.user.scopes)  # only a writer sees the forms
    first = (await templates.page(ctx, {}, forms.CHOICES, None)).items if writer else []
    own = {template.id: template, runs.id: runs}  # offered wherever they sort
    others = [*own.values(), *(other for other in first if other.id not in own)]
    return render(
        request,
        "schedule.html",
        status,
        schedule=schedule,
        template=template,
        times=schedules.preview(schedule, NEXT_TIMES) if schedule.enabled else [],
        fires=fires.items,
        older_fires=fires.next_cursor,
        local=local,
        missed_policies=list(MissedPolicy),
        overlap_policies=list(OverlapPolicy),
        errors=errors or {},
        sent=sent if sent is not None else _timing_of(schedule),
        values=values,
        moving=moving,
        templates=others,
        tried=(trial or Trial()).shown(),
        prompts=shown_prompts(runs, values, schedule.prompts or {}),
        options=launch_options(runs, values, schedule.launch),
        **(await launch_choices(ctx, runs) if writer else {}),
        **common(request, ctx),
    )


async def _on_page(
    request: Request,
    session: AsyncSession,
    schedule_id: int,
    token: Any,
    fields: Mapping[str, Any],
    save: Callable[[Ctx, Schedule], Awaitable[Schedule]],
    again: Callable[[Ctx, Schedule, int, dict[str, str]], Awaitable[Response]],
) -> Response:
    """A form on a schedule's page (``change_one``): back to the page once saved."""
    return await change_one(
        request,
        session,
        WRITE,
        token if isinstance(token, str) else "",
        lambda ctx: schedules.get(ctx, schedule_id),
        fields,
        save,
        again,
        f"/schedules/{schedule_id}",
    )


@router.post("/schedules/{schedule_id}")
async def change_timing(request: Request, session: WriteSession, schedule_id: PathId) -> Response:
    """When it runs: name, cron or one time, zone, end and policies (a cron replaces a
    one-time run and the other way round); what it runs stays."""
    posted = await request.form()
    token = posted.get("csrf_token", "")
    sent = {name: value for name in TIMING if isinstance(value := posted.get(name, ""), str)}

    async def save(ctx: Ctx, schedule: Schedule) -> Schedule:
        if not sent.get("cron") and not sent.get("run_at"):
            neither = "give a cron expression, or a time to run once"
            raise ValidationFailed(neither, [{"loc": ["cron"], "msg": neither, "type": "missing"}])
        body = ScheduleUpdate.model_validate(_timing(sent, schedule))
        return await schedules.update(ctx, schedule_id, body)

    async def again(ctx: Ctx, schedule: Schedule, status: int, refused: dict[str, str]) -> Response:
        return await _page(request, ctx, schedule, status, refused, sent)

    return await _on_page(request, session, schedule_id, token, sent, save, again)


def _timing(sent: dict[str, str], schedule: Schedule) -> dict[str, Any]:
    """What the timing form changes (times read in the zone given, else the schedule's
    own): a cron or a time to run once replaces the other; an end left blank is none."""
    moved = changed(sent, _timing_of(schedule))
    zone_name = sent.get("timezone") or schedule.timezone
    fields: dict[str, Any] = {name: sent[name] for name in moved & PLAIN}
    fields |= {name: instant(sent[name], zone_name) for name in moved & TIMES}
    if "cron" in moved and sent["cron"]:  # a cron cleared gives way to the time typed
        fields["cron"] = sent["cron"]
    if "timezone" in moved:
        fields["timezone"] = zone_name
    return fields


@router.post("/schedules/{schedule_id}/values")
async def change_values(request: Request, session: WriteSession, schedule_id: PathId) -> Response:
    """What each fire runs with: prompt values (a secret one left blank keeps the value
    stored), extra vars, check and diff mode, verbosity and the hosts it is limited to;
    with ``template_id``, another template to run with them. Check, diff and verbosity
    are sent only when changed: left as shown, they go on following the template (and
    with ``follow``, they follow it again). Its timing stays."""
    posted = await request.form(max_fields=LAUNCH_FIELDS, max_part_size=100_000)
    token = posted.get("csrf_token")

    async def save(ctx: Ctx, schedule: Schedule) -> Schedule:
        moving = await _moving_to(ctx, schedule, _template_id(posted))
        template = moving or await templates.get(ctx, schedule.template_id)
        launch, refused = await read_launch(ctx, posted, template)
        if refused:
            field, message = next(iter(refused.items()))
            raise ValidationFailed.at(field, message)
        stored = schedule.prompts or {}  # a secret one's value is the mask
        secret = {p.name for p in templates.prompts_of(template) if p.type is PromptType.secret}
        prompts = {  # a secret field left blank keeps the value stored
            name: MASK if value == "" and name in secret and stored.get(name) == MASK else value
            for name, value in (launch["prompts"] or {}).items()
        }
        fields = _unfollowed(launch, template, posted, schedule.launch)
        if "follow" in posted:  # back to the template's own
            fields |= dict.fromkeys(FOLLOWED)
        fields["prompts"] = prompts or None
        if moving is not None:
            fields["template_id"] = moving.id
        body = ScheduleUpdate.model_validate(fields)
        return await schedules.update(ctx, schedule_id, body, from_text=True)

    async def again(ctx: Ctx, schedule: Schedule, status: int, refused: dict[str, str]) -> Response:
        try:
            moving = await _moving_to(ctx, schedule, _template_id(posted))
        except ValidationFailed:
            moving = None  # said beside the form
        return await _page(request, ctx, schedule, status, refused, values=posted, moving=moving)

    return await _on_page(request, session, schedule_id, token, posted, save, again)


def _unfollowed(
    launch: dict[str, Any], template: JobTemplate, sent: FormData, stored: dict[str, Any]
) -> dict[str, Any]:
    """``launch`` but for the options left as the form showed them (what is ``stored``,
    else the template's): those go on following the template."""
    shown = launch_options(template, None, stored)
    typed = launch_options(template, sent)
    return {
        name: value
        for name, value in launch.items()
        if name not in FOLLOWED or typed[name] != shown[name]
    }


class Change(StrEnum):
    enable = "enable"
    disable = "disable"
    delete = "delete"


CHANGES = {
    Change.enable: schedules.enable,
    Change.disable: schedules.disable,
    Change.delete: schedules.delete,
}


@router.post("/schedules/{schedule_id}/{change}")
async def change_schedule(
    request: Request,
    session: WriteSession,
    schedule_id: PathId,
    change: Change,
    csrf_token: Csrf = "",
) -> Response:
    return await act(
        request,
        session,
        WRITE,
        csrf_token,
        lambda ctx: CHANGES[change](ctx, schedule_id),
        "/schedules" if change is Change.delete else f"/schedules/{schedule_id}",
    )


async def _schedule_form(
    request: Request,
    ctx: Ctx,
    template: JobTemplate,
    status: int = 200,
    errors: dict[str, str] | None = None,
    sent: FormData | None = None,
    trial: Trial | None = None,
) -> Response:
    return render(
        request,
        "schedule_new.html",
        status,
        template=template,
        prompts=shown_prompts(template, sent),
        options=launch_options(template, sent),
        tried=(trial or Trial()).shown(),
        local=local,
        **await launch_choices(ctx, template),
        missed_policies=list(MissedPolicy),
        overlap_policies=list(OverlapPolicy),
        errors=errors or {},
        sent=sent,
        **await frozen(ctx),
        **common(request, ctx),
    )


@router.get("/templates/{template_id}/schedule")
async def new_schedule_page(
    request: Request, session: PrimaryReadSession, template_id: PathId, trial: Tried
) -> Response:
    found = await page_of_one(request, session, WRITE, lambda ctx: templates.get(ctx, template_id))
    if isinstance(found, Response):
        return found
    ctx, template = found
    return await _schedule_form(request, ctx, template, trial=trial)


def instant(text: str, zone_name: str) -> str | None:
    """A form's local date and time (``datetime-local``: no zone) read in the schedule's
    zone, as ISO 8601 with its offset; text that is no such thing is left for the schema
    to refuse, and a bad zone for the zone's own check."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).replace(tzinfo=cron.zone(zone_name)).isoformat()
    except (ValueError, cron.BadTiming):
        return text


def schedule_fields(sent: FormData, launch: dict[str, Any]) -> dict[str, Any]:
    """The schedule the form asks for, as the API's body would hold it."""
    given = {name: value for name in TIMING if isinstance(value := sent.get(name), str)}
    zone_name = given.get("timezone") or "UTC"
    return {
        **launch,
        **{name: value for name, value in given.items() if value},
        "timezone": zone_name,
        "run_at": instant(given.get("run_at", ""), zone_name),
        "ends_at": instant(given.get("ends_at", ""), zone_name),
        "enabled": "paused" not in sent,
    }


@router.post("/templates/{template_id}/schedule")
async def create_schedule(request: Request, session: WriteSession, template_id: PathId) -> Response:
    found = await launch_form(request, session, template_id, WRITE)
    if isinstance(found, Response):
        return found
    ctx, template, sent = found
    launch, errors = await read_launch(ctx, sent, template)
    if errors:
        return await _schedule_form(request, ctx, template, 422, errors, sent)
    launch = _unfollowed(launch, template, sent, {})
    fields = schedule_fields(sent, launch) | {"template_id": template.id}

    async def save() -> Schedule:
        return await schedules.create(ctx, ScheduleCreate.model_validate(fields), from_text=True)

    async def again(status: int, refused: dict[str, str]) -> Response:
        return await _schedule_form(request, ctx, template, status, refused, sent)

    schedule = await from_form(save, fields, again)
    if isinstance(schedule, Response):
        return schedule
    return RedirectResponse(f"/schedules/{schedule.id}", status_code=303)
