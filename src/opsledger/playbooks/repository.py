"""The only SQL for playbooks."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.db import queries
from opsledger.playbooks.models import Playbook


async def get(session: AsyncSession, playbook_id: int) -> Playbook | None:
    return await session.get(Playbook, playbook_id)


async def by_reference(session: AsyncSession, ref: str) -> Playbook | None:
    return await queries.by_name_or_id(session, Playbook, Playbook.name, ref)


async def name_taken(session: AsyncSession, name: str, other_than: int | None = None) -> bool:
    return await queries.value_taken(session, Playbook.name, name, other_than)


async def page(
    session: AsyncSession, filters: dict[str, object], limit: int, after: int | None
) -> list[Playbook]:
    return await queries.page(session, Playbook, filters, limit, after)
