"""The only SQL for jobs."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.jobs.models import Job


async def get(session: AsyncSession, job_id: int) -> Job | None:
    return await session.get(Job, job_id)
