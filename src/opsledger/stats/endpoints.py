"""HTTP for stats."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from opsledger.kit.errors import AUTH_ERRORS, problem_responses
from opsledger.kit.routers import api_router
from opsledger.security.auth import RequireListing
from opsledger.security.context import Ctx
from opsledger.stats import service
from opsledger.stats.schemas import Stats

router = api_router("/stats", "stats")


@router.get("", responses=problem_responses(*AUTH_ERRORS))
async def read_stats(ctx: Annotated[Ctx, Depends(RequireListing("stats:read"))]) -> Stats:
    """Counts per table, hosts by status and role, jobs by status, open tickets by
    priority, overdue tickets and firing alerts: grouped queries, no rows loaded."""
    return await service.collect(ctx.session)
