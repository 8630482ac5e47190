"""The credentials wire format: values go in, never come out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, SecretStr, StringConstraints

from opsledger.credentials.models import CredentialType
from opsledger.kit.filtering import ListQuery
from opsledger.kit.schemas import RequestSchema, ResponseSchema

Value = Annotated[SecretStr, Field(min_length=1, max_length=65_536)]


class CredentialCreate(RequestSchema):
    type: CredentialType
    username: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    value: Value


class CredentialRotate(RequestSchema):
    value: Value


class CredentialRead(ResponseSchema):
    id: int
    host_id: int
    type: CredentialType
    username: str
    is_active: bool
    rotated_at: datetime | None
    created_at: datetime


class CredentialQuery(ListQuery):
    type: CredentialType | None = None
    is_active: bool | None = None


class DeactivateQuery(RequestSchema):
    type: CredentialType


class Deactivated(ResponseSchema):
    deactivated: int
