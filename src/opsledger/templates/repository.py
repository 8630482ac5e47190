"""The only SQL for job templates."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.db import queries
from opsledger.templates.models import JobTemplate

CATALOGUE = queries.Catalogue(JobTemplate, JobTemplate.name)
get = CATALOGUE.get
name_taken = CATALOGUE.name_taken
page = CATALOGUE.page


async def by_reference(session: AsyncSession, ref: str) -> JobTemplate | None:
    return await queries.by_name_or_id(session, JobTemplate, JobTemplate.name, ref)
