"""The only SQL for host roles."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.db import queries
from opsledger.host_roles.models import HostRole

CATALOGUE = queries.Catalogue(HostRole, HostRole.name)
get = CATALOGUE.get
name_taken = CATALOGUE.name_taken
page = CATALOGUE.page


async def names(session: AsyncSession) -> set[str]:
    return set(await session.scalars(select(HostRole.name)))


async def add_all(session: AsyncSession, roles: list[HostRole]) -> None:
    session.add_all(roles)
    await session.flush()


async def by_ids(session: AsyncSession, role_ids: list[int]) -> list[HostRole]:
    return list(await session.scalars(select(HostRole).where(HostRole.id.in_(role_ids))))
