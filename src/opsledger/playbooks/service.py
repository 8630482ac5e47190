"""Rules for playbooks: files live under the playbook root and are pinned by hash."""

from __future__ import annotations

from functools import partial
from typing import Any

from opsledger.audit import changes
from opsledger.db.session import undo_unless_committed
from opsledger.kit.errors import Conflict, found
from opsledger.kit.pagination import Rows
from opsledger.playbooks import files, repository
from opsledger.playbooks.models import Playbook
from opsledger.playbooks.schemas import PlaybookCreate, PlaybookUpdate, PlaybookVerification
from opsledger.security.context import Ctx

RESOURCE = "playbook"


async def get(ctx: Ctx, playbook_id: int) -> Playbook:
    return found(
        await repository.get(ctx.session, playbook_id), f"playbook {playbook_id} does not exist"
    )


async def page(ctx: Ctx, filters: dict[str, Any], limit: int, after: int | None) -> Rows[Playbook]:
    return await repository.page(ctx.session, filters, limit, after)


async def _name_free(ctx: Ctx, name: str, playbook_id: int | None = None) -> None:
    if await repository.name_taken(ctx.session, name, playbook_id):
        raise Conflict(f"a playbook named {name!r} already exists")


async def register(ctx: Ctx, body: PlaybookCreate) -> Playbook:
    await _name_free(ctx, body.name)
    root = ctx.settings.playbook_root
    if body.content is not None:
        path, file_hash = await files.store_upload(root, body.name, body.content)
        # On disk before the row commits, so no row names a missing file; gone if the row
        # never commits (a name taken meanwhile, a database error), so nothing is left.
        undo_unless_committed(ctx.session, partial(files.remove, [path]))
    else:
        path, file_hash = await files.read_registered(root, body.file_path or "")
    playbook = Playbook(
        name=body.name,
        description=body.description,
        file_path=str(path),
        file_hash=file_hash,
        tags=body.tags,
        variables=body.variables,
    )
    return await changes.create(ctx, RESOURCE, playbook)


async def update(ctx: Ctx, playbook_id: int, body: PlaybookUpdate) -> Playbook:
    playbook = await get(ctx, playbook_id)
    fields = body.changes()
    if "name" in fields:
        await _name_free(ctx, fields["name"], playbook.id)
    return await changes.update(ctx, RESOURCE, playbook, fields)


async def verify(ctx: Ctx, playbook_id: int) -> PlaybookVerification:
    """Whether the file on disk still has the content that was registered."""
    playbook = await get(ctx, playbook_id)
    current = await files.current_hash(playbook.file_path)
    return PlaybookVerification(
        id=playbook.id,
        file_path=playbook.file_path,
        file_hash=playbook.file_hash,
        current_hash=current,
        matches=current == playbook.file_hash,
    )
