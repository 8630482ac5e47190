"""Console pages for the two plain catalogues, applications and infrastructure: the list,
and a form that adds an entry or edits one (documents as YAML, read as they are saved;
refusals beside their field, keeping what was typed). An infrastructure's provider
secrets are write-only: the form never shows them, and left blank keeps them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel

from opsledger.applications import service as applications
from opsledger.applications.schemas import (
    ApplicationCreate,
    ApplicationQuery,
    ApplicationUpdate,
)
from opsledger.db.dependencies import PrimaryReadSession, WriteSession
from opsledger.infrastructure import service as infrastructure
from opsledger.infrastructure.schemas import (
    InfrastructureCreate,
    InfrastructureQuery,
    InfrastructureUpdate,
)
from opsledger.kit.errors import NotFound
from opsledger.kit.filtering import ListQuery
from opsledger.kit.http import PathId
from opsledger.kit.pagination import Rows
from opsledger.security.context import Ctx
from opsledger.web import forms
from opsledger.web.console import (
    act,
    common,
    form_context,
    from_form,
    list_page,
    page_context,
    page_of_one,
    page_router,
    refuse,
    render,
)
from opsledger.web.forms import Csrf

router = page_router()
MAX_FIELD = 200_000
CLEAR = "clear_secrets"  # the edit form's box that clears write-only secrets


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: str = "text"  # "text", "document" (a YAML mapping) or "secrets" (write-only)
    required: bool = False


@dataclass(frozen=True)
class Catalogue:
    path: str  # "/applications"
    title: str  # "Applications"
    one: str  # "application"
    domain: str  # the policy's name: "<domain>:read", "<domain>:write"
    fields: tuple[Field, ...]
    columns: tuple[str, ...]  # what the list shows besides the name
    query: type[ListQuery]
    create: type[BaseModel]
    update: type[BaseModel]
    get: Callable[[Ctx, int], Awaitable[Any]]
    page: Callable[[Ctx, dict[str, Any], int, int | None], Awaitable[Rows[Any]]]
    add: Callable[[Ctx, Any], Awaitable[Any]]
    change: Callable[[Ctx, int, Any], Awaitable[Any]]
    remove: Callable[[Ctx, int], Awaitable[None]]


CATALOGUES = (
    Catalogue(
        "/applications",
        "Applications",
        "application",
        "applications",
        (
            Field("name", "Name", required=True),
            Field("repo_url", "Repository URL"),
            Field("description", "Description"),
            Field("config", "Configuration (YAML or JSON mapping)", "document"),
        ),
        ("repo_url", "description"),
        ApplicationQuery,
        ApplicationCreate,
        ApplicationUpdate,
        applications.get,
        applications.page,
        applications.create,
        applications.update,
        applications.delete,
    ),
    Catalogue(
        "/infrastructure",
        "Infrastructure",
        "infrastructure",
        "infrastructure",
        (
            Field("name", "Name", required=True),
            Field("provider", "Provider", required=True),
            Field("region", "Region"),
            Field("description", "Description"),
            Field("config", "Configuration (YAML or JSON mapping)", "document"),
            Field("secrets", "Provider secrets (YAML mapping; never shown again)", "secrets"),
        ),
        ("provider", "region"),
        InfrastructureQuery,
        InfrastructureCreate,
        InfrastructureUpdate,
        infrastructure.get,
        infrastructure.page,
        infrastructure.create,
        infrastructure.update,
        infrastructure.delete,
    ),
)


def _shown(catalogue: Catalogue, entry: Any) -> dict[str, str]:
    """An entry's values as its form shows them (never its secrets)."""
    shown = {}
    for field in catalogue.fields:
        value = None if field.kind == "secrets" else getattr(entry, field.name)
        shown[field.name] = forms.as_text(value) if field.kind == "document" else value or ""
    return shown


async def _read(
    catalogue: Catalogue, sent: dict[str, str], editing: bool, clear: bool = False
) -> dict[str, Any]:
    """The form as the API's body; ValueError names a document that does not read.
    ``clear``: an edit's write-only secrets left blank are cleared, not kept."""
    fields: dict[str, Any] = {}
    for field in catalogue.fields:
        text = sent.get(field.name, "")
        if field.kind == "text":
            fields[field.name] = text or None
            continue
        if field.kind == "secrets" and editing and not text.strip():
            if clear:
                fields[field.name] = None
            continue  # left blank: kept as they are, unless cleared
        try:
            fields[field.name] = await asyncio.to_thread(
                forms.plain_document, text, field.name, dict
            )
        except ValueError as exc:
            raise _Unreadable(field.name, str(exc)) from None
    return fields


class _Unreadable(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _routes(catalogue: Catalogue) -> None:
    read, write = f"{catalogue.domain}:read", f"{catalogue.domain}:write"

    async def form(
        request: Request,
        ctx: Ctx,
        entry: Any = None,
        status: int = 200,
        errors: dict[str, str] | None = None,
        sent: dict[str, str] | None = None,
    ) -> Response:
        if sent is None:
            sent = _shown(catalogue, entry) if entry is not None else {}
        return render(
            request,
            "catalogue_form.html",
            status,
            catalogue=catalogue,
            entry=entry,
            errors=errors or {},
            sent=sent,
            **common(request, ctx),
        )

    async def listing(request: Request, session: PrimaryReadSession) -> Response:
        async def fetch(ctx: Ctx, query: Any) -> Rows[Any]:
            return await catalogue.page(ctx, query.filters(), query.limit, query.after)

        return await list_page(
            request, session, read, "catalogue.html", catalogue.query, fetch, catalogue=catalogue
        )

    async def new(request: Request, session: PrimaryReadSession) -> Response:
        ctx = await page_context(request, session, write)
        if isinstance(ctx, Response):
            return ctx
        return await form(request, ctx)

    async def one(request: Request, session: PrimaryReadSession, entry_id: PathId) -> Response:
        found = await page_of_one(request, session, read, lambda ctx: catalogue.get(ctx, entry_id))
        if isinstance(found, Response):
            return found
        return await form(request, *found)

    async def save(request: Request, session: Any, entry_id: int | None) -> Response:
        posted = await request.form()
        sent = {
            field.name: value[:MAX_FIELD]
            for field in catalogue.fields
            if isinstance(value := posted.get(field.name, ""), str)
        }
        token = posted.get("csrf_token", "")
        ctx = await form_context(request, session, write, token if isinstance(token, str) else "")
        if isinstance(ctx, Response):
            return ctx
        try:
            entry = None if entry_id is None else await catalogue.get(ctx, entry_id)
        except NotFound as exc:
            return refuse(request, 404, exc.detail)
        shown = {name: "" if name == "secrets" else value for name, value in sent.items()}
        try:
            fields = await _read(catalogue, sent, entry is not None, CLEAR in posted)
        except _Unreadable as exc:
            return await form(request, ctx, entry, 422, {exc.field: str(exc)}, shown)

        async def store() -> Any:
            if entry is None:
                return await catalogue.add(ctx, catalogue.create.model_validate(fields))
            return await catalogue.change(ctx, entry.id, catalogue.update.model_validate(fields))

        async def again(status: int, refused: dict[str, str]) -> Response:
            return await form(request, ctx, entry, status, refused, shown)

        saved = await from_form(store, fields, again)
        if isinstance(saved, Response):
            return saved
        return RedirectResponse(f"{catalogue.path}/{saved.id}", status_code=303)

    async def add(request: Request, session: WriteSession) -> Response:
        return await save(request, session, None)

    async def edit(request: Request, session: WriteSession, entry_id: PathId) -> Response:
        return await save(request, session, entry_id)

    async def delete(
        request: Request, session: WriteSession, entry_id: PathId, csrf_token: Csrf = ""
    ) -> Response:
        """Refused (409, the page says why) while a deployment uses the entry."""
        return await act(
            request,
            session,
            write,
            csrf_token,
            lambda ctx: catalogue.remove(ctx, entry_id),
            catalogue.path,
        )

    router.get(catalogue.path)(listing)
    router.get(f"{catalogue.path}/new")(new)
    router.get(f"{catalogue.path}/{{entry_id}}")(one)
    router.post(catalogue.path)(add)
    router.post(f"{catalogue.path}/{{entry_id}}")(edit)
    router.post(f"{catalogue.path}/{{entry_id}}/delete")(delete)


for each in CATALOGUES:
    _routes(each)
