"""The only SQL for playbooks."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.db import queries
from opsledger.playbooks.models import Playbook

CATALOGUE = queries.Catalogue(Playbook, Playbook.name)
get = CATALOGUE.get
name_taken = CATALOGUE.name_taken
page = CATALOGUE.page


async def by_reference(session: AsyncSession, ref: str) -> Playbook | None:
    return await queries.by_name_or_id(session, Playbook, Playbook.name, ref)
