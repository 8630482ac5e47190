"""The only SQL for freeze windows."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.db import queries
from opsledger.freeze_windows.models import FreezeWindow

CATALOGUE = queries.Catalogue(FreezeWindow, FreezeWindow.name)
get = CATALOGUE.get
name_taken = CATALOGUE.name_taken
page = CATALOGUE.page
by_reference = CATALOGUE.by_reference


async def candidates(session: AsyncSession, now: datetime) -> list[FreezeWindow]:
    """The one-off windows open at ``now`` and every recurring one (whose times only the
    cron expression knows)."""
    statement = (
        select(FreezeWindow)
        .where(
            or_(
                FreezeWindow.cron.is_not(None),
                and_(FreezeWindow.starts_at <= now, FreezeWindow.ends_at > now),
            )
        )
        .order_by(FreezeWindow.id)
    )
    return list(await session.scalars(statement))
