"""The only SQL for secrets. Listing never selects the encrypted value."""

from __future__ import annotations

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from opsledger.db import queries
from opsledger.kit.pagination import Rows
from opsledger.secrets.models import Secret


async def get(session: AsyncSession, secret_id: int, owner_id: int | None) -> Secret | None:
    statement = (
        select(Secret).options(defer(Secret.value, raiseload=True)).where(Secret.id == secret_id)
    )
    if owner_id is not None:
        statement = statement.where(Secret.user_id == owner_id)
    return await session.scalar(statement)


async def value(session: AsyncSession, secret_id: int) -> str:
    return str(await session.scalar(select(Secret.value).where(Secret.id == secret_id)))


async def taken(session: AsyncSession, owner_id: int, service_name: str, key_name: str) -> bool:
    clash = (
        (Secret.user_id == owner_id)
        & (Secret.service_name == service_name)
        & (Secret.key_name == key_name)
    )
    return bool(await session.scalar(select(exists().where(clash))))


async def page(
    session: AsyncSession, owner_id: int | None, limit: int, after: int | None
) -> Rows[Secret]:
    statement = select(Secret).options(defer(Secret.value, raiseload=True))
    if owner_id is not None:
        statement = statement.where(Secret.user_id == owner_id)
    return await queries.keyset_page(session, statement, Secret.id, limit, after)


async def add(session: AsyncSession, secret: Secret) -> Secret:
    session.add(secret)
    await session.flush()
    return secret
