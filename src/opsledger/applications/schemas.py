"""The applications wire format."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import StringConstraints

from opsledger.kit.filtering import ListQuery
from opsledger.kit.schemas import (
    JsonObject,
    Name,
    RequestSchema,
    ResponseSchema,
    Text,
    UpdateSchema,
)

RepoUrl = Annotated[
    str,
    StringConstraints(min_length=1, max_length=500, pattern=r"^(https?|ssh|git)://\S+$|^git@\S+$"),
]


class ApplicationCreate(RequestSchema):
    name: Name
    repo_url: RepoUrl | None = None
    description: Text | None = None
    config: JsonObject | None = None


class ApplicationUpdate(UpdateSchema):
    nullable = frozenset({"repo_url", "description", "config"})

    name: Name | None = None
    repo_url: RepoUrl | None = None
    description: Text | None = None
    config: JsonObject | None = None


class ApplicationRead(ResponseSchema):
    id: int
    name: str
    repo_url: str | None
    description: str | None
    config: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime


class ApplicationQuery(ListQuery):
    name: Name | None = None
