"""The only SQL for API keys."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.api_keys.models import ApiKey
from opsledger.db import queries
from opsledger.db.driver import DriverSelect
from opsledger.kit.pagination import Rows
from opsledger.users.models import User, UserRole


class KeyOwner(NamedTuple):
    """What authenticating with a key needs: the key's state and its owner's."""

    id: int
    key_hash: str
    scopes: list[str] | None
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    user_id: int
    username: str
    role: UserRole
    is_active: bool


# Built once from the tables and read by the driver itself: this runs on every API-key
# request, where SQLAlchemy's execution and result layers cost ~0.17 ms of CPU more
# (bench/request_path.py, PostgreSQL).
_keys, _users = ApiKey.__table__, User.__table__
_KEY_OWNER = DriverSelect(
    select(
        _keys.c.id,
        _keys.c.key_hash,
        _keys.c.scopes,
        _keys.c.expires_at,
        _keys.c.revoked_at,
        _keys.c.last_used_at,
        _users.c.id,
        _users.c.username,
        _users.c.role,
        _users.c.is_active,
    )
    .join(_users, _users.c.id == _keys.c.user_id)
    .where(_keys.c.prefix == bindparam("prefix"))
)


async def by_prefix(session: AsyncSession, prefix: str) -> KeyOwner | None:
    """One indexed lookup, joined with the owner, for authenticating a request."""
    rows = await _KEY_OWNER.rows(session, prefix=prefix)
    return KeyOwner._make(rows[0]) if rows else None


async def touch(session: AsyncSession, key_id: int, when: datetime) -> None:
    await session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=when))


async def get(session: AsyncSession, key_id: int, owner_id: int | None) -> ApiKey | None:
    """``owner_id`` None reads any key (admins); otherwise only the owner's."""
    statement = select(ApiKey).where(ApiKey.id == key_id)
    if owner_id is not None:
        statement = statement.where(ApiKey.user_id == owner_id)
    return await session.scalar(statement)


async def page(
    session: AsyncSession, owner_id: int | None, limit: int, after: int | None
) -> Rows[ApiKey]:
    statement = select(ApiKey)
    if owner_id is not None:
        statement = statement.where(ApiKey.user_id == owner_id)
    return await queries.keyset_page(session, statement, ApiKey.id, limit, after)


async def add(session: AsyncSession, key: ApiKey) -> ApiKey:
    session.add(key)
    await session.flush()
    return key
