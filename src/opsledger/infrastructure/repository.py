"""The only SQL for infrastructure."""

from __future__ import annotations

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.db import queries
from opsledger.deployments.models import Deployment
from opsledger.infrastructure.models import Infrastructure

CATALOGUE = queries.Catalogue(Infrastructure, Infrastructure.name)
get = CATALOGUE.get
name_taken = CATALOGUE.name_taken
page = CATALOGUE.page


async def in_use(session: AsyncSession, infrastructure_id: int) -> bool:
    statement = select(exists().where(Deployment.infrastructure_id == infrastructure_id))
    return bool(await session.scalar(statement))


async def reload(session: AsyncSession, infrastructure: Infrastructure) -> Infrastructure:
    """Every column after a write, the encrypted one too: the answer says whether
    provider secrets are set, and an audit snapshot leaves that column unloaded."""
    await session.refresh(infrastructure)
    return infrastructure
