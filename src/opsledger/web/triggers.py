"""Console pages for triggers: the list, a trigger with its latest deliveries, making one
for a template from a form (prompt values mapped from JSON pointers, alert matchers), its
URL and secret shown once on the page that answers the form (never in a URL), rotating
the secret and deleting it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.db.dependencies import PrimaryReadSession, WriteSession
from opsledger.kit.errors import Forbidden, NotFound
from opsledger.kit.http import PathId
from opsledger.kit.pagination import Rows
from opsledger.security.context import Ctx
from opsledger.templates import service as templates
from opsledger.templates.models import JobTemplate
from opsledger.triggers import service as triggers
from opsledger.triggers.models import Trigger
from opsledger.triggers.schemas import HOOKS, TriggerCreate, TriggerQuery, TriggerUpdate
from opsledger.web import forms
from opsledger.web.console import (
    act,
    change_one,
    common,
    form_context,
    form_of_one,
    from_form,
    list_page,
    not_kept,
    page_of_one,
    page_router,
    refuse,
    render,
)
from opsledger.web.forms import Csrf, Paused, QueryId

router = page_router()
Field = Annotated[str, Form(max_length=20_000)]
WRITE = "triggers:write"
DELIVERIES_SHOWN = 50


@router.get("/triggers")
async def trigger_list(request: Request, session: PrimaryReadSession) -> Response:
    async def fetch(ctx: Ctx, query: TriggerQuery) -> Rows[Any]:
        return await triggers.page(ctx, query.filters(), query.limit, query.after)

    return await list_page(request, session, "triggers:read", "triggers.html", TriggerQuery, fetch)


@router.get("/triggers/{trigger_id}")
async def trigger_page(
    request: Request, session: PrimaryReadSession, trigger_id: PathId, after: QueryId = None
) -> Response:
    """A trigger; ``after``: its deliveries older than that one."""
    found = await page_of_one(
        request, session, "triggers:read", lambda ctx: triggers.get(ctx, trigger_id)
    )
    if isinstance(found, Response):
        return found
    return await _page(request, *found, after=after)


def _as_sent(trigger: Trigger) -> dict[str, str]:
    """A trigger as its form shows it."""
    return {
        "name": trigger.name,
        "prompts": "\n".join(f"{name}={pointer}" for name, pointer in trigger.prompts.items()),
        "alert_matchers": "\n".join(
            f"{label}={value}" for label, value in (trigger.alert_matchers or {}).items()
        ),
        "rate_per_minute": str(trigger.rate_per_minute),
    }


async def _page(
    request: Request,
    ctx: Ctx,
    trigger: Trigger,
    status: int = 200,
    errors: dict[str, str] | None = None,
    sent: dict[str, str] | None = None,
    after: int | None = None,
) -> Response:
    """A trigger; after a refused change, why beside each field and what was typed."""
    deliveries = await triggers.deliveries_page(ctx, trigger.id, DELIVERIES_SHOWN, after)
    template = await templates.get(ctx, trigger.template_id)
    return render(
        request,
        "trigger.html",
        status,
        trigger=trigger,
        url=f"{HOOKS}/{trigger.id}",
        deliveries=deliveries.items,
        older_deliveries=deliveries.next_cursor,
        prompt_names=[prompt.name for prompt in templates.prompts_of(template)],
        errors=errors or {},
        sent=sent if sent is not None else _as_sent(trigger),
        **common(request, ctx),
    )


def _typed(name: str, prompts: str, alert_matchers: str, rate: str) -> dict[str, str]:
    return {
        "name": name,
        "prompts": prompts,
        "alert_matchers": alert_matchers,
        "rate_per_minute": rate,
    }


def _fields(sent: dict[str, str]) -> dict[str, Any]:
    """What the form asks for, as the API's body holds it."""
    return {
        "name": sent["name"],
        "prompts": forms.pairs(sent["prompts"], lines_only=True) or {},
        "alert_matchers": forms.pairs(sent["alert_matchers"], lines_only=True),
        "rate_per_minute": sent["rate_per_minute"],
    }


async def _trigger_form(
    request: Request,
    ctx: Ctx,
    template: JobTemplate,
    status: int = 200,
    errors: dict[str, str] | None = None,
    sent: dict[str, str] | None = None,
) -> Response:
    return render(
        request,
        "trigger_new.html",
        status,
        template=template,
        prompt_names=[prompt.name for prompt in templates.prompts_of(template)],
        errors=errors or {},
        sent=sent or {},
        **common(request, ctx),
    )


@router.get("/templates/{template_id}/trigger")
async def new_trigger_page(
    request: Request, session: PrimaryReadSession, template_id: PathId
) -> Response:
    found = await page_of_one(request, session, WRITE, lambda ctx: templates.get(ctx, template_id))
    if isinstance(found, Response):
        return found
    ctx, template = found
    return await _trigger_form(request, ctx, template)


def _secret_page(
    request: Request, ctx: Ctx, trigger: Trigger, secret: str, status: int
) -> Response:
    response = render(
        request,
        "trigger_secret.html",
        status,
        trigger=trigger,
        url=f"{HOOKS}/{trigger.id}",
        secret=secret,
        **common(request, ctx),
    )
    not_kept(response)
    return response


@router.post("/templates/{template_id}/trigger")
async def create_trigger(
    request: Request,
    session: WriteSession,
    template_id: PathId,
    name: Field = "",
    prompts: Field = "",
    alert_matchers: Field = "",
    rate_per_minute: Field = "10",
    paused: Paused = False,
    csrf_token: Csrf = "",
) -> Response:
    found = await form_of_one(
        request, session, WRITE, csrf_token, lambda ctx: templates.get(ctx, template_id)
    )
    if isinstance(found, Response):
        return found
    ctx, template = found
    sent = _typed(name, prompts, alert_matchers, rate_per_minute) | {
        "paused": "on" if paused else ""
    }
    fields = _fields(sent) | {"template_id": template.id, "enabled": not paused}

    async def save() -> tuple[Trigger, str]:
        return await triggers.create(ctx, TriggerCreate.model_validate(fields))

    async def again(status: int, refused: dict[str, str]) -> Response:
        return await _trigger_form(request, ctx, template, status, refused, sent)

    made = await from_form(save, fields, again)
    if isinstance(made, Response):
        return made
    trigger, secret = made
    return _secret_page(request, ctx, trigger, secret, 201)


@router.post("/triggers/{trigger_id}")
async def change_trigger(
    request: Request,
    session: WriteSession,
    trigger_id: PathId,
    name: Field = "",
    prompts: Field = "",
    alert_matchers: Field = "",
    rate_per_minute: Field = "",
    csrf_token: Csrf = "",
) -> Response:
    """Its name, prompt pointers, alert matchers and rate; its URL and secret stay."""
    sent = _typed(name, prompts, alert_matchers, rate_per_minute)
    fields = _fields(sent)

    async def save(ctx: Ctx, _: Trigger) -> Trigger:
        return await triggers.update(ctx, trigger_id, TriggerUpdate.model_validate(fields))

    async def again(ctx: Ctx, trigger: Trigger, status: int, refused: dict[str, str]) -> Response:
        return await _page(request, ctx, trigger, status, refused, sent)

    return await change_one(
        request,
        session,
        WRITE,
        csrf_token,
        lambda ctx: triggers.get(ctx, trigger_id),
        fields,
        save,
        again,
        f"/triggers/{trigger_id}",
    )


async def _switch(
    request: Request, session: AsyncSession, trigger_id: int, csrf_token: str, enabled: bool
) -> Response:
    body = TriggerUpdate(enabled=enabled)
    return await act(
        request,
        session,
        WRITE,
        csrf_token,
        lambda ctx: triggers.update(ctx, trigger_id, body),
        f"/triggers/{trigger_id}",
    )


@router.post("/triggers/{trigger_id}/enable")
async def enable_trigger(
    request: Request, session: WriteSession, trigger_id: PathId, csrf_token: Csrf = ""
) -> Response:
    return await _switch(request, session, trigger_id, csrf_token, True)


@router.post("/triggers/{trigger_id}/disable")
async def disable_trigger(
    request: Request, session: WriteSession, trigger_id: PathId, csrf_token: Csrf = ""
) -> Response:
    """Deliveries are refused until it is enabled again; its URL and secret stay."""
    return await _switch(request, session, trigger_id, csrf_token, False)


@router.post("/triggers/{trigger_id}/rotate")
async def rotate_trigger(
    request: Request, session: WriteSession, trigger_id: PathId, csrf_token: Csrf = ""
) -> Response:
    ctx = await form_context(request, session, WRITE, csrf_token)
    if isinstance(ctx, Response):
        return ctx
    try:
        trigger, secret = await triggers.rotate_secret(ctx, trigger_id)
    except (NotFound, Forbidden) as exc:
        return refuse(request, exc.status, exc.detail)
    return _secret_page(request, ctx, trigger, secret, 200)


@router.post("/triggers/{trigger_id}/delete")
async def delete_trigger(
    request: Request, session: WriteSession, trigger_id: PathId, csrf_token: Csrf = ""
) -> Response:
    return await act(
        request,
        session,
        WRITE,
        csrf_token,
        lambda ctx: triggers.delete(ctx, trigger_id),
        "/triggers",
    )
