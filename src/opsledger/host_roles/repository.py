"""The only SQL for host roles."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.db import queries
from opsledger.host_roles.models import HostRole


async def names(session: AsyncSession) -> set[str]:
    return set(await session.scalars(select(HostRole.name)))


async def add_all(session: AsyncSession, roles: list[HostRole]) -> None:
    session.add_all(roles)
    await session.flush()


async def get(session: AsyncSession, role_id: int) -> HostRole | None:
    return await session.get(HostRole, role_id)


async def name_taken(session: AsyncSession, name: str, other_than: int | None = None) -> bool:
    return await queries.value_taken(session, HostRole.name, name, other_than)


async def page(
    session: AsyncSession, filters: dict[str, object], limit: int, after: int | None
) -> list[HostRole]:
    return await queries.page(session, HostRole, filters, limit, after)
