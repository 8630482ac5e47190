"""The console's audit trail (admins): what each change changed."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response

from opsledger.audit import service as audit
from opsledger.audit.schemas import AuditQuery
from opsledger.db.dependencies import PrimaryReadSession
from opsledger.kit.pagination import Rows
from opsledger.security.context import Ctx
from opsledger.web.console import list_page, page_router

router = page_router()


@router.get("/audit")
async def audit_list(request: Request, session: PrimaryReadSession) -> Response:
    async def fetch(ctx: Ctx, query: AuditQuery) -> Rows[Any]:
        return await audit.page(
            ctx.session, limit=query.limit, before_id=query.after, **query.filters()
        )

    return await list_page(request, session, "audit:read", "audit.html", AuditQuery, fetch)
