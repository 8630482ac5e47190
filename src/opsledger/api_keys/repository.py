"""The only SQL for API keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from opsledger.api_keys.models import ApiKey


async def by_prefix(session: AsyncSession, prefix: str) -> ApiKey | None:
    """One indexed lookup, with the owner, for authenticating a request."""
    statement = select(ApiKey).options(joinedload(ApiKey.user)).where(ApiKey.prefix == prefix)
    return await session.scalar(statement)


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
) -> list[ApiKey]:
    statement = select(ApiKey).order_by(ApiKey.id).limit(limit)
    if owner_id is not None:
        statement = statement.where(ApiKey.user_id == owner_id)
    if after is not None:
        statement = statement.where(ApiKey.id > after)
    return list(await session.scalars(statement))


async def add(session: AsyncSession, key: ApiKey) -> ApiKey:
    session.add(key)
    await session.flush()
    return key
