"""HTTP for the audit trail (admins only), newest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime

from opsledger.audit import service
from opsledger.audit.schemas import AuditRead
from opsledger.kit.errors import Forbidden, Unauthorized, ValidationFailed, problem_responses
from opsledger.kit.pagination import DEFAULT_LIMIT, After, Limit, Page, page_of
from opsledger.security.auth import RequireRead
from opsledger.security.context import Ctx

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("", responses=problem_responses(Unauthorized, Forbidden, ValidationFailed))
async def list_audit(
    ctx: Annotated[Ctx, Depends(RequireRead("audit:read"))],
    resource_type: Annotated[str | None, Query(max_length=50)] = None,
    resource_id: Annotated[int | None, Query(ge=0)] = None,
    user_id: Annotated[int | None, Query(ge=0)] = None,
    action: Annotated[str | None, Query(max_length=100)] = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    limit: Limit = DEFAULT_LIMIT,
    after: After = None,
) -> Page[AuditRead]:
    """``after`` continues below the previous page's last id (the list is newest first)."""
    rows = await service.page(
        ctx.session,
        limit=limit + 1,
        before_id=after,
        resource_type=resource_type,
        resource_id=resource_id,
        user_id=user_id,
        action=action,
        since=since,
        until=until,
    )
    return page_of(rows, limit, AuditRead.model_validate, lambda row: row.id)
