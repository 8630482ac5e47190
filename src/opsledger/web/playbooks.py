"""Console pages for playbooks: the list, a playbook with its content, its SHA-256 and
whether the file on disk still matches it, and for admins a form that registers one (a
file under the playbook root, or YAML pasted in, checked as it is saved) and switching
one off or on."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import Field as PydanticField
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile

from opsledger.db.dependencies import PrimaryReadSession, WriteSession
from opsledger.kit.http import PathId
from opsledger.kit.pagination import Rows
from opsledger.playbooks import files
from opsledger.playbooks import service as playbooks
from opsledger.playbooks.models import Playbook
from opsledger.playbooks.schemas import (
    MAX_PLAYBOOK_BYTES,
    PlaybookCreate,
    PlaybookQuery,
    PlaybookUpdate,
)
from opsledger.security.context import Ctx
from opsledger.web import forms
from opsledger.web.console import (
    act,
    common,
    form_context,
    form_of_one,
    from_form,
    list_page,
    page_context,
    page_of_one,
    page_router,
    render,
)
from opsledger.web.forms import Csrf

router = page_router()
READ, WRITE = "playbooks:read", "playbooks:write"
# What a playbook's page shows of its file; a larger one is cut there, and says so.
SHOWN_BYTES = 256 * 1024


class PlaybookForm(forms.Typed):
    name: str = PydanticField("", max_length=2000)
    file_path: str = PydanticField("", max_length=2000)
    content: str = PydanticField("", max_length=MAX_PLAYBOOK_BYTES + 1)
    description: str = PydanticField("", max_length=20_000)
    tags: str = PydanticField("", max_length=20_000)
    variables: str = PydanticField("", max_length=200_000)


@router.get("/playbooks")
async def playbook_list(request: Request, session: PrimaryReadSession) -> Response:
    async def fetch(ctx: Ctx, query: PlaybookQuery) -> Rows[Any]:
        return await playbooks.page(ctx, query.filters(), query.limit, query.after)

    return await list_page(request, session, READ, "playbooks.html", PlaybookQuery, fetch)


async def _form(
    request: Request,
    ctx: Ctx,
    status: int = 200,
    errors: dict[str, str] | None = None,
    sent: dict[str, str] | None = None,
) -> Response:
    return render(
        request,
        "playbook_new.html",
        status,
        errors=errors or {},
        sent=sent or {},
        root=str(ctx.settings.playbook_root),
        **common(request, ctx),
    )


@router.get("/playbooks/new")
async def new_playbook_page(request: Request, session: PrimaryReadSession) -> Response:
    ctx = await page_context(request, session, WRITE)
    if isinstance(ctx, Response):
        return ctx
    return await _form(request, ctx)


@router.get("/playbooks/{playbook_id}")
async def playbook_page(
    request: Request, session: PrimaryReadSession, playbook_id: PathId
) -> Response:
    found = await page_of_one(request, session, READ, lambda ctx: playbooks.get(ctx, playbook_id))
    if isinstance(found, Response):
        return found
    return await _page(request, *found)


def _details(playbook: Playbook) -> dict[str, str]:
    """What the details form shows of a playbook."""
    return {
        "name": playbook.name,
        "description": playbook.description or "",
        "tags": ", ".join(playbook.tags or []),
        "variables": forms.as_text(playbook.variables),
    }


async def _page(
    request: Request,
    ctx: Ctx,
    playbook: Playbook,
    status: int = 200,
    errors: dict[str, str] | None = None,
    sent: dict[str, str] | None = None,
) -> Response:
    """A playbook; after a refused change of its details, why beside each field and what
    was typed."""
    content = await files.current_content(playbook.file_path)
    shown = None if content is None else content[:SHOWN_BYTES].decode(errors="replace")
    return render(
        request,
        "playbook.html",
        status,
        playbook=playbook,
        variables=forms.as_text(playbook.variables),
        content=shown,
        cut=content is not None and len(content) > SHOWN_BYTES,
        matches=content is not None and files.digest(content) == playbook.file_hash,
        errors=errors or {},
        sent=sent if sent is not None else _details(playbook),
        **common(request, ctx),
    )


class DetailsForm(forms.Typed):
    name: str = PydanticField("", max_length=2000)
    description: str = PydanticField("", max_length=20_000)
    tags: str = PydanticField("", max_length=20_000)
    variables: str = PydanticField("", max_length=200_000)
    csrf_token: str = PydanticField("", max_length=200)


@router.post("/playbooks/{playbook_id}")
async def change_details(
    request: Request,
    session: WriteSession,
    playbook_id: PathId,
    form: Annotated[DetailsForm, Form()],
) -> Response:
    """Its name, description, tags and default variables; its file stays as registered
    (a changed file is a new playbook)."""
    found = await form_of_one(
        request, session, WRITE, form.csrf_token, lambda ctx: playbooks.get(ctx, playbook_id)
    )
    if isinstance(found, Response):
        return found
    ctx, playbook = found
    sent = form.sent()

    async def again(status: int, refused: dict[str, str]) -> Response:
        return await _page(request, ctx, playbook, status, refused, sent)

    try:
        variables = await asyncio.to_thread(forms.plain_document, form.variables, "variables", dict)
    except ValueError as exc:
        return await again(422, {"variables": str(exc)})
    fields = {
        "name": form.name,
        "description": form.description or None,
        "tags": forms.items(form.tags),
        "variables": variables,
    }

    async def save() -> Playbook:
        return await playbooks.update(ctx, playbook_id, PlaybookUpdate.model_validate(fields))

    saved = await from_form(save, fields, again)
    if isinstance(saved, Response):
        return saved
    return RedirectResponse(f"/playbooks/{playbook_id}", status_code=303)


async def _uploaded(request: Request) -> str | None:
    """The text of the file uploaded with the form, or None when none was chosen;
    ValueError when it is larger than a playbook may be or is not UTF-8 text."""
    upload = (await request.form()).get("upload")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None
    data = await upload.read(MAX_PLAYBOOK_BYTES + 1)
    if len(data) > MAX_PLAYBOOK_BYTES:
        raise ValueError(f"the file is larger than a playbook may be ({MAX_PLAYBOOK_BYTES} bytes)")
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise ValueError("the file is not UTF-8 text") from None


@router.post("/playbooks")
async def register_playbook(
    request: Request, session: WriteSession, form: Annotated[PlaybookForm, Form()]
) -> Response:
    ctx = await form_context(request, session, WRITE, form.csrf_token)
    if isinstance(ctx, Response):
        return ctx
    sent = form.sent()
    try:
        uploaded = await _uploaded(request)
    except ValueError as exc:
        return await _form(request, ctx, 422, {"upload": str(exc)}, sent)
    if uploaded is not None:
        if form.content.strip():
            both = {"upload": "paste its YAML or upload its file, not both"}
            return await _form(request, ctx, 422, both, sent)
        # Refused, the file's text comes back in the paste box, to be mended there.
        sent["content"] = uploaded
    content = sent["content"]
    try:
        variables = await asyncio.to_thread(forms.plain_document, form.variables, "variables", dict)
    except ValueError as exc:
        return await _form(request, ctx, 422, {"variables": str(exc)}, sent)
    fields = {
        "name": form.name,
        "file_path": form.file_path.strip() or None,
        "content": content if content.strip() else None,
        "description": form.description or None,
        "tags": forms.items(form.tags),
        "variables": variables,
    }

    async def save() -> Playbook:
        return await playbooks.register(ctx, PlaybookCreate.model_validate(fields))

    async def again(status: int, refused: dict[str, str]) -> Response:
        return await _form(request, ctx, status, refused, sent)

    made = await from_form(save, fields, again)
    if isinstance(made, Response):
        return made
    return RedirectResponse(f"/playbooks/{made.id}", status_code=303)


async def _switch(
    request: Request, session: AsyncSession, playbook_id: int, csrf_token: str, active: bool
) -> Response:
    body = PlaybookUpdate(is_active=active)
    return await act(
        request,
        session,
        WRITE,
        csrf_token,
        lambda ctx: playbooks.update(ctx, playbook_id, body),
        f"/playbooks/{playbook_id}",
    )


@router.post("/playbooks/{playbook_id}/deactivate")
async def deactivate_playbook(
    request: Request, session: WriteSession, playbook_id: PathId, csrf_token: Csrf = ""
) -> Response:
    """No new job or template uses it; jobs that ran it keep it."""
    return await _switch(request, session, playbook_id, csrf_token, False)


@router.post("/playbooks/{playbook_id}/activate")
async def activate_playbook(
    request: Request, session: WriteSession, playbook_id: PathId, csrf_token: Csrf = ""
) -> Response:
    return await _switch(request, session, playbook_id, csrf_token, True)
