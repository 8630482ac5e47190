"""The console's system page (admins): the version, the database backend and whether its
schema is the newest, the encryption key generations, what retention would remove now,
a walk of the audit chain on demand, with the first row that does not fit, and a backup
to download."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import replace
from importlib.metadata import version
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import FileResponse, Response
from starlette.background import BackgroundTask

from opsledger import migrations
from opsledger.audit import service as audit
from opsledger.db.base import utcnow
from opsledger.db.dependencies import (
    PrimaryReadSession,
    SnapshotSession,
    database_of,
)
from opsledger.db.session import unit_of_work
from opsledger.kit.errors import RateLimited, ValidationFailed
from opsledger.ops import backup, retention
from opsledger.security.context import Ctx
from opsledger.users import service as users
from opsledger.users.endpoints import login_throttle
from opsledger.web.console import (
    common,
    form_context,
    not_kept,
    page_context,
    page_router,
    render,
    told_when,
)
from opsledger.web.forms import Csrf, Password

router = page_router()
ADMIN = "audit:read"
BACKUP = "system:backup"


@router.get("/system")
async def system_page(request: Request, session: PrimaryReadSession) -> Response:
    ctx = await page_context(request, session, ADMIN)
    if isinstance(ctx, Response):
        return ctx
    return await _system(request, ctx)


async def _system(
    request: Request, ctx: Ctx, status: int = 200, errors: dict[str, str] | None = None
) -> Response:
    engine = database_of(request).engine
    try:
        removable: dict[str, int] | str = await retention.preview(
            ctx.session, retention.cutoffs(ctx.settings)
        )
    except ValidationFailed as exc:
        removable = exc.detail
    return render(
        request,
        "system.html",
        status,
        errors=errors or {},
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


@router.post("/system/backup")
async def download_backup(
    request: Request, session: PrimaryReadSession, password: Password = "", csrf_token: Csrf = ""
) -> Response:
    """Every table and every playbook's file, as `opsledger backup` writes them, once the
    admin typed their password again: the archive holds password and key hashes, every
    secret's ciphertext and the audit trail. The archive is made in a folder only this
    process's user reads and removed once sent. Checked in a read session and audited in
    its own short transaction after (as a wrong password is, before): on SQLite a write
    session would hold the write lock (and every job's log lines) for as long as the
    backup takes."""
    ctx = await form_context(request, session, BACKUP, csrf_token)
    if isinstance(ctx, Response):
        return ctx
    refusal: ValidationFailed | RateLimited | None = None
    async with unit_of_work(database_of(request).writes) as writes:  # a wrong one's audit row
        try:
            await users.confirm_password(
                replace(ctx, session=writes), await login_throttle(request), password
            )
        except (ValidationFailed, RateLimited) as exc:
            refusal = exc
    if refusal is not None:
        page = await _system(request, ctx, refusal.status, errors={"password": refusal.detail})
        return told_when(page, refusal)
    folder = Path(tempfile.mkdtemp(prefix="opsledger-backup-"))
    name = f"opsledger-{utcnow():%Y%m%dT%H%M%SZ}.zip"
    try:
        made = await backup.backup(
            database_of(request).engine, folder / name, ctx.settings.playbook_root
        )
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    async with unit_of_work(database_of(request).writes) as writes:
        audit.record(replace(ctx, session=writes), "download", "backup", None, after=_summary(made))
    sent = FileResponse(
        folder / name,
        media_type="application/zip",
        filename=name,
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )
    return not_kept(sent)


def _summary(made: backup.Manifest) -> dict[str, Any]:
    return {
        "schema_revision": made.schema_revision,
        "tables": len(made.tables),
        "rows": sum(entry.rows for entry in made.tables),
        "playbook_files": made.file_count(),
    }
