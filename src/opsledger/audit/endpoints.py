"""HTTP for the audit trail (admins only), newest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from opsledger.audit import service
from opsledger.audit.schemas import AuditQuery, AuditRead, AuditVerificationRead
from opsledger.kit.errors import Forbidden, Unauthorized, ValidationFailed, problem_responses
from opsledger.kit.pagination import Page
from opsledger.kit.routers import api_router
from opsledger.security.auth import RequireListing, RequireSnapshot
from opsledger.security.context import Ctx

router = api_router("/audit", "audit")


@router.get("", responses=problem_responses(Unauthorized, Forbidden, ValidationFailed))
async def list_audit(
    ctx: Annotated[Ctx, Depends(RequireListing("audit:read"))],
    query: Annotated[AuditQuery, Query()],
) -> Page[AuditRead]:
    """Newest first; filter by resource, user, action and a time range."""
    rows = await service.page(
        ctx.session, limit=query.limit, before_id=query.after, **query.filters()
    )
    return rows.read(AuditRead.model_validate)


@router.get("/verification", responses=problem_responses(Unauthorized, Forbidden))
async def verify_audit(
    ctx: Annotated[Ctx, Depends(RequireSnapshot("audit:read"))],
) -> AuditVerificationRead:
    """Walk the whole chain from its anchor, as `opsledger audit verify` does: the keys
    that signed its rows (by fingerprint), the unkeyed rows from before the chain was
    keyed, and the first row that does not fit, if any."""
    result = await service.verify(ctx.session, ctx.settings)
    return AuditVerificationRead.model_validate(result)
