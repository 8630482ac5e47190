"""The only SQL for host roles."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.host_roles.models import HostRole


async def names(session: AsyncSession) -> set[str]:
    return set(await session.scalars(select(HostRole.name)))


async def add_all(session: AsyncSession, roles: list[HostRole]) -> None:
    session.add_all(roles)
    await session.flush()
