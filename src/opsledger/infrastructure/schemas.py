"""The infrastructure wire format: provider secrets go in and never come out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, SecretStr, StringConstraints

from opsledger.kit.filtering import ListQuery
from opsledger.kit.schemas import (
    JsonObject,
    Name,
    RequestSchema,
    ResponseSchema,
    Text,
    UpdateSchema,
)

Provider = Annotated[str, StringConstraints(min_length=1, max_length=50)]
Region = Annotated[str, StringConstraints(min_length=1, max_length=50)]
SecretKey = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Secrets = Annotated[
    dict[SecretKey, Annotated[SecretStr, Field(max_length=10_000)]],
    Field(max_length=50, description="Provider credentials; stored encrypted, never returned."),
]


class InfrastructureCreate(RequestSchema):
    name: Name
    provider: Provider
    region: Region | None = None
    description: Text | None = None
    config: JsonObject | None = None
    secrets: Secrets | None = None


class InfrastructureUpdate(UpdateSchema):
    nullable = frozenset({"region", "description", "config", "secrets"})

    name: Name | None = None
    provider: Provider | None = None
    region: Region | None = None
    description: Text | None = None
    config: JsonObject | None = None
    secrets: Secrets | None = None


class InfrastructureRead(ResponseSchema):
    id: int
    name: str
    provider: str
    region: str | None
    description: str | None
    config: dict[str, Any] | None
    has_secrets: bool
    created_at: datetime
    updated_at: datetime


class InfrastructureQuery(ListQuery):
    name: Name | None = None
    provider: Provider | None = None
    region: Region | None = None
