"""The schedules wire format."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    StrictBool,
    StringConstraints,
    model_validator,
)

from opsledger.kit.filtering import ListQuery
from opsledger.kit.schemas import (
    MAX_ID,
    Instant,
    ResponseSchema,
    StrictInput,
    UpdateSchema,
    Variables,
)
from opsledger.schedules import cron
from opsledger.schedules.models import FireOutcome, MissedPolicy, OverlapPolicy, Schedule
from opsledger.templates.schemas import TemplateLaunch, TemplateName, Verbosity

ScheduleName = TemplateName
HostIds = Annotated[
    list[Annotated[int, Field(ge=1, le=MAX_ID)]], Field(min_length=1, max_length=10_000)
]
MAX_PREVIEW = 100
# What a schedule adds to its template's run, besides prompt values (a launch's fields).
LAUNCH = ("extra_vars", "check", "diff", "verbosity", "limit_host_ids")


def _cron(expression: str) -> str:
    try:
        return cron.check(expression)
    except cron.BadTiming as bad:
        raise ValueError(bad.message) from None


def _zone(name: str) -> str:
    try:
        return cron.zone(name).key
    except cron.BadTiming as bad:
        raise ValueError(bad.message) from None


CronExpression = Annotated[
    str, StringConstraints(min_length=1, max_length=255), AfterValidator(_cron)
]
ZoneName = Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(_zone)]


class ScheduleCreate(TemplateLaunch):
    """A template launched with these values (a launch's, checked against the template's
    prompts when saved and again at each fire) on ``cron`` read in ``timezone``, or once
    at ``run_at``."""

    name: ScheduleName
    template_id: int = Field(ge=1, le=MAX_ID)
    cron: CronExpression | None = Field(
        None,
        description="5 fields (minute hour day-of-month month day-of-week), read in "
        "`timezone`. A time that a spring-forward day skips runs once, at the first "
        "minute after the gap; a time that a fall-back day repeats runs once, the first time.",
    )
    run_at: Instant | None = Field(None, description="Once, at this instant (in the future).")
    timezone: ZoneName = Field(description="An IANA time zone, e.g. Europe/Berlin or UTC.")
    enabled: StrictBool = True
    ends_at: Instant | None = Field(None, description="No fire after this instant.")
    missed: MissedPolicy = Field(
        MissedPolicy.skip,
        description="After downtime: `skip` the missed times (recorded) or `run_once` "
        "(one catch-up run, however many were missed).",
    )
    overlap: OverlapPolicy = Field(
        OverlapPolicy.skip,
        description="While its previous run has not ended: `skip` (recorded), `queue` "
        "(at most one waiting) or `allow`.",
    )

    @model_validator(mode="after")
    def _one_timing(self) -> Self:
        if (self.cron is None) == (self.run_at is None):
            raise ValueError("give exactly one of cron and run_at")
        return self


class ScheduleUpdate(UpdateSchema):
    nullable = frozenset(
        {"cron", "run_at", "ends_at", "extra_vars", "prompts", "check", "diff", "verbosity"}
        | {"limit_host_ids"}
    )

    name: ScheduleName | None = None
    template_id: int | None = Field(None, ge=1, le=MAX_ID)
    cron: CronExpression | None = None
    run_at: Instant | None = None
    timezone: ZoneName | None = None
    ends_at: Instant | None = None
    missed: MissedPolicy | None = None
    overlap: OverlapPolicy | None = None
    extra_vars: Variables | None = None
    prompts: dict[str, Any] | None = Field(
        None,
        description="Replaces every prompt value the schedule keeps; a secret one sent as "
        "read (********) keeps its stored value.",
    )
    check: StrictBool | None = None
    diff: StrictBool | None = None
    verbosity: Verbosity | None = None
    limit_host_ids: HostIds | None = None


class ScheduleRead(ResponseSchema):
    id: int
    name: str
    template_id: int
    user_id: int
    extra_vars: dict[str, Any] | None
    prompts: dict[str, Any] = Field(description="Secret prompts' values shown as ********.")
    check: bool | None
    diff: bool | None
    verbosity: int | None
    limit_host_ids: list[int] | None
    cron: str | None
    run_at: datetime | None
    timezone: str
    enabled: bool
    ends_at: datetime | None
    missed: MissedPolicy
    overlap: OverlapPolicy
    next_run_at: datetime | None = Field(description="UTC; null when disabled or finished.")
    queued_at: datetime | None = Field(description="A due time waiting for the previous run.")
    last_run_at: datetime | None
    last_run_id: int | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, schedule: Schedule) -> Self:
        """The schedule with its launch values as fields of their own."""
        columns = set(cls.model_fields) - {*LAUNCH, "prompts"}
        return cls.model_validate(
            {name: getattr(schedule, name) for name in columns}
            | {name: schedule.launch.get(name) for name in LAUNCH}
            | {"prompts": schedule.prompts or {}}
        )


class ScheduleTime(BaseModel):
    utc: datetime
    local: datetime = Field(description="The same instant in the schedule's time zone.")


class SchedulePreview(BaseModel):
    timezone: str
    times: list[ScheduleTime]


class PreviewQuery(StrictInput):
    count: int = Field(10, ge=1, le=MAX_PREVIEW, description="How many times to show.")


class TimingPreviewQuery(PreviewQuery):
    """An expression not saved yet: what it would name."""

    cron: CronExpression
    timezone: ZoneName = "UTC"


class FireRead(ResponseSchema):
    id: int
    due_at: datetime
    outcome: FireOutcome
    run_id: int | None
    reason: str | None
    created_at: datetime


class ScheduleQuery(ListQuery):
    name: ScheduleName | None = None
    template_id: int | None = Field(None, ge=1, le=MAX_ID)
    enabled: bool | None = None
