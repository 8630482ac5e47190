"""The triggers wire format."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Self

from pydantic import Field, StrictBool, StringConstraints

from opsledger.kit.filtering import ListQuery
from opsledger.kit.schemas import MAX_ID, RequestSchema, ResponseSchema, UpdateSchema
from opsledger.templates.prompts import PromptName
from opsledger.templates.schemas import TemplateName
from opsledger.triggers.models import DeliveryOutcome, Trigger

TriggerName = TemplateName
# RFC 6901, one member or more deep: "/release/tag_name", "/commits/0/id" ("~1" is "/").
JsonPointer = Annotated[
    str, StringConstraints(min_length=2, max_length=500, pattern=r"^(/([^~/]|~[01])*)+$")
]
PromptPointers = Annotated[
    dict[PromptName, JsonPointer],
    Field(
        max_length=50,
        description="Prompt name -> the JSON pointer in the payload its value is read "
        "from: nothing else in a payload reaches a run.",
    ),
]
AlertMatchers = Annotated[
    dict[
        Annotated[str, StringConstraints(min_length=1, max_length=200)],
        Annotated[str, StringConstraints(max_length=200)],
    ],
    Field(
        min_length=1,
        max_length=20,
        description="Alert label -> the value it must have: a new firing alert whose labels "
        "hold them all launches the template against the alert's host (the most specific "
        "trigger, then the oldest, when several match).",
    ),
]
Rate = Annotated[int, Field(ge=1, le=600, description="At most this many launches a minute.")]
HOOKS = "/api/v1/hooks"


class TriggerCreate(RequestSchema):
    name: TriggerName
    template_id: int = Field(ge=1, le=MAX_ID)
    prompts: PromptPointers = Field(default_factory=dict)
    rate_per_minute: Rate = 10
    alert_matchers: AlertMatchers | None = None
    enabled: StrictBool = True


class TriggerUpdate(UpdateSchema):
    nullable = frozenset({"alert_matchers"})

    name: TriggerName | None = None
    prompts: PromptPointers | None = None
    rate_per_minute: Rate | None = None
    alert_matchers: AlertMatchers | None = None
    enabled: StrictBool | None = None


class TriggerRead(ResponseSchema):
    id: int
    name: str
    template_id: int
    user_id: int = Field(description="Whose runs its launches are.")
    prompts: dict[str, str]
    rate_per_minute: int
    alert_matchers: dict[str, str] | None
    enabled: bool
    url: str = Field(description="Where deliveries are posted, from the server's root.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, trigger: Trigger) -> Self:
        fields = {name: getattr(trigger, name) for name in cls.model_fields if name != "url"}
        return cls.model_validate(fields | {"url": f"{HOOKS}/{trigger.id}"})


class TriggerCreated(TriggerRead):
    secret: str = Field(description="Signs deliveries (HMAC-SHA256); shown here once, never again.")


class DeliveryRead(ResponseSchema):
    id: int
    delivery_id: str | None
    outcome: DeliveryOutcome
    status_code: int
    reason: str | None
    body_bytes: int
    body_sha256: str
    run_id: int | None
    created_at: datetime


class DeliveryAnswer(ResponseSchema):
    outcome: DeliveryOutcome
    delivery_id: str | None
    run_id: int | None
    detail: str


class TriggerQuery(ListQuery):
    name: TriggerName | None = None
    template_id: int | None = Field(None, ge=1, le=MAX_ID)
