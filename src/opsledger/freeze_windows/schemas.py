"""The freeze windows wire format."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Self

from pydantic import Field, model_validator

from opsledger.hosts.schemas import Short
from opsledger.kit.filtering import ListQuery
from opsledger.kit.schemas import MAX_ID, Instant, RequestSchema, ResponseSchema, UpdateSchema
from opsledger.schedules.schemas import CronExpression, ZoneName
from opsledger.templates.schemas import TemplateName

WindowName = TemplateName
Minutes = Annotated[int, Field(ge=1, le=31 * 24 * 60, description="How long each time lasts.")]
Environments = Annotated[list[Short], Field(min_length=1, max_length=100)]
RoleId = Annotated[int, Field(ge=1, le=MAX_ID)]
RoleIds = Annotated[list[RoleId], Field(min_length=1, max_length=100)]


def check_shape(fields: Mapping[str, Any]) -> None:
    """One window, once or recurring, with one scope: ValueError naming what is wrong."""
    once = fields.get("starts_at") is not None or fields.get("ends_at") is not None
    recurring = fields.get("cron") is not None or fields.get("duration_minutes") is not None
    if once == recurring:
        raise ValueError("give starts_at and ends_at, or cron and duration_minutes")
    if once:
        starts_at, ends_at = fields.get("starts_at"), fields.get("ends_at")
        if starts_at is None or ends_at is None or ends_at <= starts_at:
            raise ValueError("a one-off window needs starts_at before ends_at")
    elif fields.get("cron") is None or fields.get("duration_minutes") is None:
        raise ValueError("a recurring window needs cron and duration_minutes")
    if fields.get("environments") and fields.get("host_role_ids"):
        raise ValueError("scope a window by environments or by host_role_ids, not both")


class FreezeWindowCreate(RequestSchema):
    """Once, from `starts_at` to `ends_at`; or each time `cron` names in `timezone`, for
    `duration_minutes`. It holds the hosts of `environments`, or of `host_role_ids`, or
    (neither given) every host."""

    name: WindowName
    starts_at: Instant | None = None
    ends_at: Instant | None = None
    cron: CronExpression | None = None
    duration_minutes: Minutes | None = None
    timezone: ZoneName = "UTC"
    environments: Environments | None = None
    host_role_ids: RoleIds | None = None

    @model_validator(mode="after")
    def _shape(self) -> Self:
        check_shape(self.model_dump())
        return self


class FreezeWindowUpdate(UpdateSchema):
    nullable = frozenset(
        {"starts_at", "ends_at", "cron", "duration_minutes", "environments", "host_role_ids"}
    )

    name: WindowName | None = None
    starts_at: Instant | None = None
    ends_at: Instant | None = None
    cron: CronExpression | None = None
    duration_minutes: Minutes | None = None
    timezone: ZoneName | None = None
    environments: Environments | None = None
    host_role_ids: RoleIds | None = None


class FreezeWindowRead(ResponseSchema):
    id: int
    name: str
    starts_at: datetime | None
    ends_at: datetime | None
    cron: str | None
    duration_minutes: int | None
    timezone: str
    environments: list[str] | None
    host_role_ids: list[int] | None
    created_at: datetime
    updated_at: datetime


class ActiveWindow(FreezeWindowRead):
    active_from: datetime = Field(description="When this time of the window began (UTC).")
    active_until: datetime = Field(
        description="When launches it holds may start again (UTC): later times of a "
        "recurring window that begin before it ends are counted in."
    )


class ActiveQuery(RequestSchema):
    at: Instant | None = Field(None, description="Another instant than now.")


class ActiveWindows(ResponseSchema):
    items: list[ActiveWindow]


class FreezeWindowQuery(ListQuery):
    name: WindowName | None = None
