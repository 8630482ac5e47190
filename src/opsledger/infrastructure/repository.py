"""The only SQL for infrastructure."""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.db import queries
from opsledger.deployments.models import Deployment
from opsledger.infrastructure.models import Infrastructure


async def get(session: AsyncSession, infrastructure_id: int) -> Infrastructure | None:
    return await session.get(Infrastructure, infrastructure_id)


async def name_taken(session: AsyncSession, name: str, other_than: int | None = None) -> bool:
    return await queries.value_taken(session, Infrastructure.name, name, other_than)


async def page(
    session: AsyncSession, filters: dict[str, Any], limit: int, after: int | None
) -> list[Infrastructure]:
    return await queries.page(session, Infrastructure, filters, limit, after)


async def in_use(session: AsyncSession, infrastructure_id: int) -> bool:
    statement = select(exists().where(Deployment.infrastructure_id == infrastructure_id))
    return bool(await session.scalar(statement))


async def reload(session: AsyncSession, infrastructure: Infrastructure) -> Infrastructure:
    """Every column after a write, the encrypted one too: the answer says whether
    provider secrets are set, and an audit snapshot leaves that column unloaded."""
    await session.refresh(infrastructure)
    return infrastructure
