"""The host roles wire format."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from opsledger.kit.filtering import ListQuery
from opsledger.kit.schemas import (
    MAX_ID,
    RequestSchema,
    ResponseSchema,
    Text,
    UpdateSchema,
    Variables,
)

RoleName = Annotated[
    str, StringConstraints(min_length=1, max_length=50, pattern=r"^[a-z0-9][a-z0-9._-]*$")
]


class HostRoleCreate(RequestSchema):
    name: RoleName
    description: Text | None = None
    default_playbook_id: int | None = Field(None, ge=1, le=MAX_ID)
    variables: Variables | None = None


class HostRoleUpdate(UpdateSchema):
    nullable = frozenset({"description", "default_playbook_id", "variables"})

    name: RoleName | None = None
    description: Text | None = None
    default_playbook_id: int | None = Field(None, ge=1, le=MAX_ID)
    variables: Variables | None = None


class HostRoleRead(ResponseSchema):
    id: int
    name: str
    description: str | None
    default_playbook_id: int | None
    variables: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime


class HostRoleQuery(ListQuery):
    name: str | None = Field(None, max_length=50)
