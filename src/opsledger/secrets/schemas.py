"""The secrets wire format: the value goes in, and comes out only through reveal."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, SecretStr, StringConstraints

from opsledger.kit.schemas import RequestSchema, ResponseSchema

Name = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Value = Annotated[SecretStr, Field(min_length=1, max_length=65_536)]


class SecretCreate(RequestSchema):
    service_name: Name
    key_name: Name
    value: Value


class SecretUpdate(RequestSchema):
    value: Value


class SecretRead(ResponseSchema):
    id: int
    user_id: int
    service_name: str
    key_name: str
    created_at: datetime
    updated_at: datetime


class SecretRevealed(ResponseSchema):
    id: int
    value: str
