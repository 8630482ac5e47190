"""Importing the users and API keys of the legacy in-memory store from its JSON export:

    {"users": [{"user_id", "username", "email", "password_hash", "role", "is_active",
                "created_at", "last_login"}, …],
     "api_keys": [{"key_id", "user_id", "key_hash", "name", "is_active", "created_at",
                   "last_used", "expires_at"}, …]}

The whole file is validated before anything is written, and written in one transaction.
Users whose username is already taken are left alone (a re-run imports nothing twice).
Password hashes are kept when they are bcrypt at cost 12 or more; any other user gets an
unusable password and must be reset by an admin. API keys keep working: their
``key_hash`` must be the SHA-256 (hex) of the key, and such a key is then accepted in
the X-API-Key header (security/api_keys.py, legacy keys)."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator, model_validator

from opsledger.api_keys.models import ApiKey
from opsledger.audit import changes
from opsledger.security import api_keys
from opsledger.security.context import Ctx
from opsledger.security.passwords import hash_password
from opsledger.users import repository
from opsledger.users.models import User, UserRole
from opsledger.users.schemas import Username

BCRYPT = re.compile(r"^\$2[aby]\$(\d{2})\$[./A-Za-z0-9]{53}$")
MIN_COST = 12
KEY_RESOURCE, USER_RESOURCE = "api_key", "user"

LegacyId = Annotated[str, Field(min_length=1, max_length=100)]


def _utc(value: datetime | None) -> datetime | None:
    """The store wrote ``datetime.utcnow()``: naive values are UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class _Legacy(BaseModel):
    # Exports may carry fields opsledger has no use for; they are ignored.
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class LegacyUser(_Legacy):
    user_id: LegacyId
    username: Username
    email: EmailStr = Field(max_length=120)
    password_hash: str | None = Field(None, max_length=255)
    role: UserRole = UserRole.viewer
    is_active: bool = True
    created_at: datetime | None = None
    last_login: datetime | None = None

    @field_validator("email")
    @classmethod
    def _lowercase(cls, value: str) -> str:
        return value.lower()


class LegacyApiKey(_Legacy):
    key_id: LegacyId
    user_id: LegacyId
    key_hash: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    name: Annotated[str, Field(min_length=1, max_length=100)]
    is_active: bool = True
    created_at: datetime | None = None
    last_used: datetime | None = None
    expires_at: datetime | None = None


class LegacyExport(_Legacy):
    users: list[LegacyUser]
    api_keys: list[LegacyApiKey] = []

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        ids = [user.user_id for user in self.users]
        names = [user.username.lower() for user in self.users]
        if len(set(ids)) != len(ids) or len(set(names)) != len(names):
            raise ValueError("user_id and username must be unique in the export")
        strays = {key.key_id for key in self.api_keys if key.user_id not in set(ids)}
        if strays:
            raise ValueError(f"api keys of users not in the export: {sorted(strays)}")
        hashes = [key.key_hash for key in self.api_keys]
        if len(set(hashes)) != len(hashes):
            raise ValueError("an api key hash appears twice")
        return self


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    already_present: list[str] = field(default_factory=list)
    needs_password_reset: list[str] = field(default_factory=list)
    keys_created: int = 0
    keys_already_present: int = 0


def _kept_hash(candidate: str | None) -> str | None:
    match = BCRYPT.match(candidate or "")
    return candidate if match and int(match.group(1)) >= MIN_COST else None


async def import_users(ctx: Ctx, export: LegacyExport) -> ImportReport:
    report = ImportReport()
    unusable: str | None = None  # one random hash nobody knows the password of
    created: dict[str, int] = {}
    for legacy in export.users:
        if await repository.taken(ctx.session, legacy.username, legacy.email):
            report.already_present.append(legacy.username)
            continue
        password_hash = _kept_hash(legacy.password_hash)
        if password_hash is None:
            unusable = unusable or await hash_password(secrets.token_urlsafe(32), MIN_COST)
            password_hash = unusable
            report.needs_password_reset.append(legacy.username)
        user = User(
            username=legacy.username,
            email=legacy.email,
            password_hash=password_hash,
            role=legacy.role,
            is_active=legacy.is_active,
            last_login=_utc(legacy.last_login),
        )
        if (created_at := _utc(legacy.created_at)) is not None:
            user.created_at = created_at
        await changes.create(ctx, USER_RESOURCE, user)
        created[legacy.user_id] = user.id
        report.created.append(legacy.username)
    for legacy_key in export.api_keys:
        owner = created.get(legacy_key.user_id)
        if owner is None:  # its user was already here: the key came with it before
            report.keys_already_present += 1
            continue
        key = ApiKey(
            user_id=owner,
            name=legacy_key.name,
            prefix=api_keys.legacy_prefix(legacy_key.key_hash),
            key_hash=legacy_key.key_hash,
            expires_at=_utc(legacy_key.expires_at),
            last_used_at=_utc(legacy_key.last_used),
            revoked_at=None if legacy_key.is_active else datetime.now(UTC),
        )
        await changes.create(ctx, KEY_RESOURCE, key)
        report.keys_created += 1
    return report
