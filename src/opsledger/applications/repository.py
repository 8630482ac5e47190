"""The only SQL for applications."""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.applications.models import Application
from opsledger.db import queries
from opsledger.deployments.models import Deployment


async def get(session: AsyncSession, application_id: int) -> Application | None:
    return await session.get(Application, application_id)


async def name_taken(session: AsyncSession, name: str, other_than: int | None = None) -> bool:
    return await queries.value_taken(session, Application.name, name, other_than)


async def page(
    session: AsyncSession, filters: dict[str, Any], limit: int, after: int | None
) -> list[Application]:
    return await queries.page(session, Application, filters, limit, after)


async def in_use(session: AsyncSession, application_id: int) -> bool:
    statement = select(exists().where(Deployment.application_id == application_id))
    return bool(await session.scalar(statement))
