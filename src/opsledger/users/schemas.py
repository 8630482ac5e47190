"""The users wire format: requests never carry hashes, responses never show them."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Annotated

from pydantic import EmailStr, Field, SecretStr, StrictBool, StringConstraints, field_validator

from opsledger.kit.schemas import RequestSchema, ResponseSchema
from opsledger.users.models import UserRole

# Lower-case ASCII: a name in its canonical form already (see canonical).
USERNAME = r"^[a-z0-9][a-z0-9._-]*$"
Username = Annotated[str, StringConstraints(min_length=3, max_length=80, pattern=USERNAME)]


def canonical(name: str) -> str:
    """The one form of a username: NFKC, case-folded. Login looks up (and the throttle
    counts) this form, so "Alice", "ALICE" and "\uff21lice" are one name with one budget of
    guesses on every backend; a name that is not already canonical cannot be created."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())


# Length rules live in the service (they are configurable); this only bounds the input.
Password = Annotated[SecretStr, Field(min_length=1, max_length=1024)]


class UserCreate(RequestSchema):
    username: Username
    email: EmailStr = Field(max_length=120)
    password: Password
    role: UserRole = UserRole.viewer

    @field_validator("email")
    @classmethod
    def _lowercase(cls, value: str) -> str:
        return value.lower()


class UserUpdate(RequestSchema):
    email: EmailStr | None = Field(default=None, max_length=120)
    role: UserRole | None = None
    is_active: StrictBool | None = None  # true or false only, as the schema says

    @field_validator("email")
    @classmethod
    def _lowercase(cls, value: str | None) -> str | None:
        return None if value is None else value.lower()


class PasswordChange(RequestSchema):
    current_password: Password
    new_password: Password


class PasswordReset(RequestSchema):
    new_password: Password


class UserRead(ResponseSchema):
    id: int
    username: str
    email: str
    role: UserRole
    is_active: bool
    last_login: datetime | None
    login_unlocked_at: datetime | None
    created_at: datetime
    updated_at: datetime


class LoginRequest(RequestSchema):
    username: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    password: Password


class TokenResponse(ResponseSchema):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int
