"""The API keys wire format: the key itself appears once, in the answer to its creation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from opsledger.kit.schemas import Instant, RequestSchema, ResponseSchema


class ApiKeyCreate(RequestSchema):
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    expires_at: Instant | None = None
    # Narrow the key to these actions (each must be one the owner's role allows).
    scopes: Annotated[list[str], Field(max_length=64)] | None = None


class ApiKeyRead(ResponseSchema):
    id: int
    user_id: int
    name: str
    prefix: str
    scopes: list[str] | None
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="The full key. Shown only here: store it now.")
