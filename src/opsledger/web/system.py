"""The console's system page (admins): the version, the database backend and whether its
schema is the newest, the encryption key generations, what retention would remove now,
and a walk of the audit chain on demand, with the first row that does not fit."""

from __future__ import annotations

from importlib.metadata import version

from fastapi import APIRouter, Request
from fastapi.responses import Response

from opsledger import migrations
from opsledger.audit import service as audit
from opsledger.db.dependencies import PrimaryReadSession, SnapshotSession, database_of
from opsledger.kit.errors import ValidationFailed
from opsledger.ops import retention
from opsledger.web.console import common, page_context, render

router = APIRouter(include_in_schema=False)
ADMIN = "audit:read"


@router.get("/system")
async def system_page(request: Request, session: PrimaryReadSession) -> Response:
    ctx = await page_context(request, session, ADMIN)
    if isinstance(ctx, Response):
        return ctx
    engine = database_of(request).engine
    try:
        removable: dict[str, int] | str = await retention.preview(
            session, retention.cutoffs(ctx.settings)
        )
    except ValidationFailed as exc:
        removable = exc.detail
    return render(
        request,
        "system.html",
        version=version("opsledger"),
        backend=engine.dialect.name,
        revision=await migrations.current_revision(engine),
        newest=migrations.head_revision(),
        keys=len(ctx.settings.encryption_keys),
        settings=ctx.settings,
        removable=removable,
        **common(request, ctx),
    )


@router.get("/system/audit-chain")
async def audit_chain_page(request: Request, session: SnapshotSession) -> Response:
    """Walks the whole chain from its anchor, as `opsledger audit verify` does (one
    snapshot: a change committed meanwhile is not half seen)."""
    ctx = await page_context(request, session, ADMIN)
    if isinstance(ctx, Response):
        return ctx
    checked = await audit.verify(session, ctx.settings)
    return render(request, "audit_chain.html", checked=checked, **common(request, ctx))
