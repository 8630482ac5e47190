"""Console pages for host roles: the list, and a form that adds or edits one (its default
playbook, what provisioning a host of the role runs, and its variables as YAML, read as
they are saved, refusals beside their field keeping what was typed)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import Field as PydanticField
from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.db.dependencies import PrimaryReadSession, WriteSession
from opsledger.host_roles import service as host_roles
from opsledger.host_roles.models import HostRole
from opsledger.host_roles.schemas import HostRoleCreate, HostRoleQuery, HostRoleUpdate
from opsledger.kit.errors import NotFound
from opsledger.kit.http import PathId
from opsledger.kit.pagination import Rows
from opsledger.playbooks import service as playbooks
from opsledger.security.context import Ctx
from opsledger.web import forms
from opsledger.web.console import (
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

router = page_router()
READ, WRITE = "host_roles:read", "host_roles:write"


class RoleForm(forms.Typed):
    name: str = PydanticField("", max_length=2000)
    description: str = PydanticField("", max_length=20_000)
    default_playbook_id: str = PydanticField("", max_length=30)
    variables: str = PydanticField("", max_length=200_000)


@router.get("/host-roles")
async def role_list(request: Request, session: PrimaryReadSession) -> Response:
    async def fetch(ctx: Ctx, query: HostRoleQuery) -> Rows[Any]:
        return await host_roles.page(ctx, query.filters(), query.limit, query.after)

    return await list_page(request, session, READ, "host_roles.html", HostRoleQuery, fetch)


async def _form(
    request: Request,
    ctx: Ctx,
    role: HostRole | None,
    status: int = 200,
    errors: dict[str, str] | None = None,
    sent: dict[str, str] | None = None,
) -> Response:
    offered = await playbooks.page(ctx, {"is_active": True}, forms.CHOICES, None)
    if sent is None and role is not None:
        sent = {
            "name": role.name,
            "description": role.description or "",
            "default_playbook_id": str(role.default_playbook_id or ""),
            "variables": forms.as_text(role.variables),
        }
    return render(
        request,
        "host_role_form.html",
        status,
        role=role,
        playbooks=offered.items,
        errors=errors or {},
        sent=sent or {},
        **common(request, ctx),
    )


@router.get("/host-roles/new")
async def new_role_page(request: Request, session: PrimaryReadSession) -> Response:
    ctx = await page_context(request, session, WRITE)
    if isinstance(ctx, Response):
        return ctx
    return await _form(request, ctx, None)


@router.get("/host-roles/{role_id}")
async def role_page(request: Request, session: PrimaryReadSession, role_id: PathId) -> Response:
    found = await page_of_one(request, session, READ, lambda ctx: host_roles.get(ctx, role_id))
    if isinstance(found, Response):
        return found
    return await _form(request, *found)


async def _save(
    request: Request, session: AsyncSession, form: RoleForm, role_id: int | None
) -> Response:
    ctx = await form_context(request, session, WRITE, form.csrf_token)
    if isinstance(ctx, Response):
        return ctx
    try:
        role = None if role_id is None else await host_roles.get(ctx, role_id)
    except NotFound as exc:
        return refuse(request, 404, exc.detail)
    sent = form.sent()
    try:
        variables = await asyncio.to_thread(forms.plain_document, form.variables, "variables", dict)
    except ValueError as exc:
        return await _form(request, ctx, role, 422, {"variables": str(exc)}, sent)
    fields = {
        "name": form.name,
        "description": form.description or None,
        "default_playbook_id": form.default_playbook_id or None,
        "variables": variables,
    }

    async def save() -> HostRole:
        if role is None:
            return await host_roles.create(ctx, HostRoleCreate.model_validate(fields))
        return await host_roles.update(ctx, role.id, HostRoleUpdate.model_validate(fields))

    async def again(status: int, refused: dict[str, str]) -> Response:
        return await _form(request, ctx, role, status, refused, sent)

    saved = await from_form(save, fields, again)
    if isinstance(saved, Response):
        return saved
    return RedirectResponse(f"/host-roles/{saved.id}", status_code=303)


RoleFields = Annotated[RoleForm, Form()]


@router.post("/host-roles")
async def add_role(request: Request, session: WriteSession, form: RoleFields) -> Response:
    return await _save(request, session, form, None)


@router.post("/host-roles/{role_id}")
async def edit_role(
    request: Request, session: WriteSession, role_id: PathId, form: RoleFields
) -> Response:
    return await _save(request, session, form, role_id)
