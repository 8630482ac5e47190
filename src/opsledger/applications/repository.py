"""The only SQL for applications."""

from __future__ import annotations

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.applications.models import Application
from opsledger.db import queries
from opsledger.deployments.models import Deployment

CATALOGUE = queries.Catalogue(Application, Application.name)
get = CATALOGUE.get
name_taken = CATALOGUE.name_taken
page = CATALOGUE.page


async def in_use(session: AsyncSession, application_id: int) -> bool:
    statement = select(exists().where(Deployment.application_id == application_id))
    return bool(await session.scalar(statement))
