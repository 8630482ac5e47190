"""The only SQL for hosts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.db import queries
from opsledger.db.types import member_text
from opsledger.hosts.models import Host
from opsledger.jobs.models import Job
from opsledger.kit.pagination import Rows


async def get(session: AsyncSession, host_id: int) -> Host | None:
    return await session.get(Host, host_id)


async def by_reference(session: AsyncSession, ref: str) -> Host | None:
    return await queries.by_name_or_id(session, Host, Host.hostname, ref)


async def hostname_taken(
    session: AsyncSession, hostname: str, other_than: int | None = None
) -> bool:
    return await queries.value_taken(session, Host.hostname, hostname, other_than)


async def page(
    session: AsyncSession,
    filters: dict[str, Any],
    tag: tuple[str, str | None] | None,
    limit: int,
    after: int | None,
) -> Rows[Host]:
    statement = select(Host)
    if tag is not None:
        key, value = tag
        tag_text = member_text(Host.tags, key)
        statement = statement.where(tag_text.is_not(None) if value is None else tag_text == value)
    return await queries.page(session, Host, filters, limit, after, statement)


async def has_jobs(session: AsyncSession, host_id: int) -> bool:
    return bool(await session.scalar(select(exists().where(Job.host_id == host_id))))
