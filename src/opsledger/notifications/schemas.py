"""The notifications wire format: secrets and URLs go in; only a URL's origin comes out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Self
from uuid import UUID

from pydantic import EmailStr, Field, SecretStr, StrictBool, StringConstraints, model_validator

from opsledger.alerts.models import AlertSeverity
from opsledger.kit.filtering import ListQuery
from opsledger.kit.schemas import MAX_ID, RequestSchema, ResponseSchema, UpdateSchema
from opsledger.notifications.addresses import origin
from opsledger.notifications.models import (
    ChannelKind,
    DeliveryStatus,
    EventName,
    NotificationAttempt,
    NotificationChannel,
    NotificationDelivery,
)
from opsledger.tickets.models import TicketPriority

ChannelName = Annotated[str, StringConstraints(min_length=1, max_length=255)]
Url = Annotated[str, StringConstraints(min_length=1, max_length=2000)]
Recipients = Annotated[list[EmailStr], Field(min_length=1, max_length=50)]
Secret = Annotated[SecretStr, Field(min_length=16, max_length=512)]
Environment = Annotated[str, StringConstraints(min_length=1, max_length=50)]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
# What each kind needs (N) and may not have (X) among url, to and secret.
NEEDS = {
    ChannelKind.webhook: ({"url", "secret"}, {"to"}),
    ChannelKind.slack: ({"url"}, {"to", "secret"}),
    ChannelKind.email: ({"to"}, {"url", "secret"}),
}


def check_kind(kind: ChannelKind, given: set[str]) -> None:
    needed, refused = NEEDS[kind]
    missing, extra = sorted(needed - given), sorted(refused & given)
    if missing:
        raise ValueError(f"a {kind} channel needs {', '.join(missing)}")
    if extra:
        raise ValueError(f"a {kind} channel has no {', '.join(extra)}")


class ChannelCreate(RequestSchema):
    name: ChannelName
    kind: ChannelKind
    url: Url | None = Field(None, description="webhook and slack: where to POST (http or https).")
    to: Recipients | None = Field(None, description="email: the recipients.")
    secret: Secret | None = Field(
        None, description="webhook: the HMAC-SHA256 key of X-Opsledger-Signature; never shown."
    )
    enabled: StrictBool = True

    @model_validator(mode="after")
    def _fits_kind(self) -> Self:
        given = {name for name in ("url", "to", "secret") if getattr(self, name) is not None}
        check_kind(self.kind, given)
        return self


class ChannelUpdate(UpdateSchema):
    name: ChannelName | None = None
    url: Url | None = None
    to: Recipients | None = None
    secret: Secret | None = None
    enabled: StrictBool | None = None


class ChannelRead(ResponseSchema):
    id: int
    name: str
    kind: ChannelKind
    url_origin: str | None = Field(description="Scheme, host and port; the rest stays secret.")
    to: list[str] | None
    has_secret: bool
    enabled: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, channel: NotificationChannel) -> Self:
        return cls(
            id=channel.id,
            name=channel.name,
            kind=channel.kind,
            url_origin=origin(channel.url) if channel.url else None,
            to=channel.recipients,
            has_secret=channel.secret is not None,
            enabled=channel.enabled,
            created_at=channel.created_at,
            updated_at=channel.updated_at,
        )


class ChannelQuery(ListQuery):
    kind: ChannelKind | None = None
    enabled: bool | None = None


class ChannelTestResult(ResponseSchema):
    ok: bool
    response_status: int | None = Field(description="The HTTP status or SMTP reply code.")
    reply: str | None = Field(description="The start of the answer, or the SMTP reply.")
    error: str | None
    duration_ms: int


FILTERS = ("min_priority", "min_severity", "environment", "template_id")


def check_filters(event: EventName, values: dict[str, Any]) -> None:
    kind = event.value.split(".")[0]
    if values.get("min_priority") is not None and kind != "ticket":
        raise ValueError("min_priority filters ticket events only")
    if values.get("min_severity") is not None and kind != "alert":
        raise ValueError("min_severity filters alert events only")
    if values.get("template_id") is not None and kind == "alert":
        raise ValueError("alert events have no template")


class RuleCreate(RequestSchema):
    channel_id: Id
    event: EventName
    min_priority: TicketPriority | None = Field(
        None, description="ticket events: this priority or a more urgent one."
    )
    min_severity: AlertSeverity | None = Field(
        None, description="alert events: this severity or a more severe one."
    )
    environment: Environment | None = Field(
        None, description="Only events on a host of this environment."
    )
    template_id: Id | None = Field(None, description="Only events of this job template's runs.")
    enabled: StrictBool = True

    @model_validator(mode="after")
    def _filters_fit(self) -> Self:
        check_filters(self.event, self.model_dump(include=set(FILTERS)))
        return self


class RuleUpdate(UpdateSchema):
    nullable = frozenset(FILTERS)

    min_priority: TicketPriority | None = None
    min_severity: AlertSeverity | None = None
    environment: Environment | None = None
    template_id: Id | None = None
    enabled: StrictBool | None = None


class RuleRead(ResponseSchema):
    id: int
    channel_id: int
    event: EventName
    min_priority: TicketPriority | None
    min_severity: AlertSeverity | None
    environment: str | None
    template_id: int | None
    enabled: bool
    created_at: datetime
    updated_at: datetime


class RuleQuery(ListQuery):
    channel_id: Id | None = None
    event: EventName | None = None


class DeliveryRead(ResponseSchema):
    id: int
    uuid: UUID = Field(description="The Idempotency-Key receivers see, the same on each attempt.")
    channel_id: int
    rule_id: int | None
    event: str
    text: str
    status: DeliveryStatus
    attempts: int
    last_error: str | None
    response_status: int | None
    next_attempt_at: datetime
    created_at: datetime
    delivered_at: datetime | None

    @classmethod
    def of(cls, delivery: NotificationDelivery) -> Self:
        fields = {name: getattr(delivery, name) for name in cls.model_fields if name != "text"}
        return cls(**fields, text=str(delivery.payload.get("text", "")))


class AttemptRead(ResponseSchema):
    number: int
    ok: bool
    response_status: int | None
    reply: str | None
    error: str | None
    duration_ms: int
    created_at: datetime


class DeliveryDetail(DeliveryRead):
    attempt_log: list[AttemptRead]

    @classmethod
    def with_attempts(
        cls, delivery: NotificationDelivery, attempts: list[NotificationAttempt]
    ) -> Self:
        read = DeliveryRead.of(delivery).model_dump()
        return cls(**read, attempt_log=[AttemptRead.model_validate(each) for each in attempts])


class DeliveryQuery(ListQuery):
    channel_id: Id | None = None
    status: DeliveryStatus | None = None
    event: EventName | None = None
