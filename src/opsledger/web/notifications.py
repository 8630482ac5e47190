"""Console pages for notifications (admins): the channels with a form that adds one (a
webhook's signing secret generated and shown once, on the answering page only), a
channel's page with its rules, a test message and its latest deliveries, and the
deliveries with every attempt, a dead one sent again from its page."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.db.dependencies import PrimaryReadSession, WriteSession
from opsledger.kit.errors import NotFound
from opsledger.kit.http import PathId
from opsledger.kit.pagination import Rows
from opsledger.notifications import service as notifications
from opsledger.notifications.models import (
    ChannelKind,
    DeliveryStatus,
    EventName,
    NotificationChannel,
    NotificationRule,
)
from opsledger.notifications.schemas import (
    FILTERS,
    ChannelCreate,
    ChannelQuery,
    ChannelRead,
    ChannelTestResult,
    ChannelUpdate,
    DeliveryQuery,
    RuleCreate,
    RuleUpdate,
)
from opsledger.security.context import Ctx
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
from opsledger.web.forms import Csrf, Password, Paused

router = page_router()
Field = Annotated[str, Form(max_length=2000)]
READ, WRITE = "notifications:read", "notifications:write"
DELIVERIES_SHOWN = 20
CHOICES: dict[str, Any] = {
    "kinds": list(ChannelKind),
    "events": list(EventName),
    "statuses": list(DeliveryStatus),
}


async def _channels(
    request: Request,
    session: AsyncSession,
    status: int = 200,
    errors: dict[str, str] | None = None,
    sent: dict[str, str] | None = None,
) -> Response:
    async def fetch(ctx: Ctx, query: ChannelQuery) -> Rows[Any]:
        rows = await notifications.channels_page(ctx, query.filters(), query.limit, query.after)
        return Rows([ChannelRead.of(channel) for channel in rows.items], rows.next_cursor)

    return await list_page(
        request,
        session,
        READ,
        "notification_channels.html",
        ChannelQuery,
        fetch,
        status,
        form_errors=errors or {},
        sent=sent or {},
        **CHOICES,
    )


@router.get("/notifications")
async def channel_list(request: Request, session: PrimaryReadSession) -> Response:
    return await _channels(request, session)


async def _channel_page(
    request: Request,
    ctx: Ctx,
    channel: NotificationChannel,
    status: int = 200,
    **shown: Any,
) -> Response:
    """A channel with its rules and latest deliveries; ``shown``: a test's result, the
    secret just made, a refused rule form."""
    rules = await notifications.rules_page(ctx, {"channel_id": channel.id}, 500, None)
    deliveries = await notifications.deliveries_page(
        ctx, {"channel_id": channel.id}, DELIVERIES_SHOWN, None
    )
    typed = {"name": channel.name, "to": ", ".join(channel.recipients or [])}
    context = {
        "rule_errors": {},
        "sent": {},
        "channel_errors": {},
        "channel_sent": typed,
        "tested": None,
        "secret": None,
    } | shown
    response = render(
        request,
        "notification_channel.html",
        status,
        channel=ChannelRead.of(channel),
        rules=rules.items,
        deliveries=deliveries.items,
        filters=FILTERS,
        **CHOICES,
        **context,
        **common(request, ctx),
    )
    if context["secret"] is not None:
        not_kept(response)
    return response


@router.get("/notifications/channels/{channel_id}")
async def channel_page(
    request: Request, session: PrimaryReadSession, channel_id: PathId
) -> Response:
    found = await page_of_one(
        request, session, READ, lambda ctx: notifications.get_channel(ctx, channel_id)
    )
    if isinstance(found, Response):
        return found
    return await _channel_page(request, *found)


@router.post("/notifications")
async def add_channel(
    request: Request,
    session: WriteSession,
    name: Field = "",
    kind: Field = "",
    url: Field = "",
    to: Field = "",
    default_rules: Field = "",
    secret: Password = "",
    paused: Paused = False,
    csrf_token: Csrf = "",
) -> Response:
    """A channel; a webhook's signing secret is the one typed, or else one generated and
    shown once."""
    ctx = await form_context(request, session, WRITE, csrf_token)
    if isinstance(ctx, Response):
        return ctx
    # Never the URL or the secret: they are credentials.
    sent = {"name": name, "kind": kind, "to": to, "paused": "on" if paused else ""}
    webhook = kind == ChannelKind.webhook
    generated = secrets.token_urlsafe(32) if webhook and not secret else None
    fields = {
        "name": name,
        "kind": kind,
        "url": url or None,
        "to": forms.items(to),
        "secret": secret or generated,
        "enabled": not paused,
    }

    async def save() -> NotificationChannel:
        channel = await notifications.create_channel(ctx, ChannelCreate.model_validate(fields))
        if default_rules:
            await notifications.add_default_rules(ctx, channel.id)
        return channel

    async def again(status: int, refused: dict[str, str]) -> Response:
        return await _channels(request, session, status, refused, sent)

    channel = await from_form(save, fields, again)
    if isinstance(channel, Response):
        return channel
    if generated is None:
        return RedirectResponse(f"/notifications/channels/{channel.id}", status_code=303)
    return await _channel_page(request, ctx, channel, 201, secret=generated)


@router.post("/notifications/channels/{channel_id}")
async def change_channel(
    request: Request,
    session: WriteSession,
    channel_id: PathId,
    name: Field = "",
    url: Field = "",
    to: Field = "",
    csrf_token: Csrf = "",
) -> Response:
    """Its name, where it sends (a URL left blank stays as it is: it is never shown) and
    an email channel's recipients."""
    sent = {"name": name, "to": to}  # never the URL: it may be a credential

    async def save(ctx: Ctx, channel: NotificationChannel) -> NotificationChannel:
        fields: dict[str, Any] = {"name": name}
        if url:
            fields["url"] = url
        if channel.kind == ChannelKind.email:
            fields["to"] = forms.items(to)
        return await notifications.update_channel(
            ctx, channel_id, ChannelUpdate.model_validate(fields)
        )

    async def again(
        ctx: Ctx, channel: NotificationChannel, status: int, refused: dict[str, str]
    ) -> Response:
        return await _channel_page(
            request, ctx, channel, status, channel_errors=refused, channel_sent=sent
        )

    return await change_one(
        request,
        session,
        WRITE,
        csrf_token,
        lambda ctx: notifications.get_channel(ctx, channel_id),
        sent,
        save,
        again,
        f"/notifications/channels/{channel_id}",
    )


@router.post("/notifications/channels/{channel_id}/rotate")
async def rotate_secret(
    request: Request, session: WriteSession, channel_id: PathId, csrf_token: Csrf = ""
) -> Response:
    """A new signing secret for a webhook channel, shown this once; the old one signs
    nothing from now on."""
    found = await form_of_one(
        request, session, WRITE, csrf_token, lambda ctx: notifications.get_channel(ctx, channel_id)
    )
    if isinstance(found, Response):
        return found
    ctx, channel = found
    if channel.kind != ChannelKind.webhook:
        return refuse(request, 422, "Only a webhook channel signs what it sends.")
    secret = secrets.token_urlsafe(32)
    changed = await notifications.update_channel(ctx, channel_id, ChannelUpdate(secret=secret))
    return await _channel_page(request, ctx, changed, 200, secret=secret)


async def _switch(
    request: Request, session: AsyncSession, channel_id: int, csrf_token: str, enabled: bool
) -> Response:
    body = ChannelUpdate(enabled=enabled)
    return await act(
        request,
        session,
        WRITE,
        csrf_token,
        lambda ctx: notifications.update_channel(ctx, channel_id, body),
        f"/notifications/channels/{channel_id}",
    )


@router.post("/notifications/channels/{channel_id}/enable")
async def enable_channel(
    request: Request, session: WriteSession, channel_id: PathId, csrf_token: Csrf = ""
) -> Response:
    return await _switch(request, session, channel_id, csrf_token, True)


@router.post("/notifications/channels/{channel_id}/disable")
async def disable_channel(
    request: Request, session: WriteSession, channel_id: PathId, csrf_token: Csrf = ""
) -> Response:
    return await _switch(request, session, channel_id, csrf_token, False)


@router.post("/notifications/channels/{channel_id}/delete")
async def delete_channel(
    request: Request, session: WriteSession, channel_id: PathId, csrf_token: Csrf = ""
) -> Response:
    return await act(
        request,
        session,
        WRITE,
        csrf_token,
        lambda ctx: notifications.delete_channel(ctx, channel_id),
        "/notifications",
    )


@router.post("/notifications/channels/{channel_id}/defaults")
async def add_default_rules(
    request: Request, session: WriteSession, channel_id: PathId, csrf_token: Csrf = ""
) -> Response:
    return await act(
        request,
        session,
        WRITE,
        csrf_token,
        lambda ctx: notifications.add_default_rules(ctx, channel_id),
        f"/notifications/channels/{channel_id}#rules",
    )


@router.post("/notifications/channels/{channel_id}/test")
async def send_test(
    request: Request, session: WriteSession, channel_id: PathId, csrf_token: Csrf = ""
) -> Response:
    """Sends now and answers the channel's page with how it went."""
    ctx = await form_context(request, session, WRITE, csrf_token)
    if isinstance(ctx, Response):
        return ctx
    try:
        tested: ChannelTestResult = await notifications.test_channel(ctx, channel_id)
        channel = await notifications.get_channel(ctx, channel_id)
    except NotFound as exc:
        return refuse(request, exc.status, exc.detail)
    return await _channel_page(request, ctx, channel, tested=tested)


@router.post("/notifications/channels/{channel_id}/rules")
async def add_rule(
    request: Request,
    session: WriteSession,
    channel_id: PathId,
    event: Field = "",
    min_priority: Field = "",
    min_severity: Field = "",
    environment: Field = "",
    template_id: Field = "",
    paused: Paused = False,
    csrf_token: Csrf = "",
) -> Response:
    found = await form_of_one(
        request, session, WRITE, csrf_token, lambda ctx: notifications.get_channel(ctx, channel_id)
    )
    if isinstance(found, Response):
        return found
    ctx, channel = found
    sent = {
        "event": event,
        "min_priority": min_priority,
        "min_severity": min_severity,
        "environment": environment,
        "template_id": template_id,
    }
    fields = {
        "channel_id": channel.id,
        **{name: value or None for name, value in sent.items()},
        "enabled": not paused,
    }
    sent["paused"] = "on" if paused else ""

    async def save() -> object:
        return await notifications.create_rule(ctx, RuleCreate.model_validate(fields))

    async def again(status: int, refused: dict[str, str]) -> Response:
        return await _channel_page(request, ctx, channel, status, rule_errors=refused, sent=sent)

    made = await from_form(save, fields, again, conflict_field="event")
    if isinstance(made, Response):
        return made
    return RedirectResponse(f"/notifications/channels/{channel.id}#rules", status_code=303)


def _filters_of(rule: NotificationRule) -> dict[str, str]:
    return {name: "" if (value := getattr(rule, name)) is None else str(value) for name in FILTERS}


async def _rule_page(
    request: Request,
    ctx: Ctx,
    rule: NotificationRule,
    status: int = 200,
    errors: dict[str, str] | None = None,
    sent: dict[str, str] | None = None,
) -> Response:
    """A rule's filters, to change; after a refusal, why beside each and what was typed."""
    return render(
        request,
        "notification_rule.html",
        status,
        rule=rule,
        rule_errors=errors or {},
        sent=sent if sent is not None else _filters_of(rule),
        **CHOICES,
        **common(request, ctx),
    )


@router.get("/notifications/rules/{rule_id}")
async def rule_page(request: Request, session: PrimaryReadSession, rule_id: PathId) -> Response:
    found = await page_of_one(
        request, session, WRITE, lambda ctx: notifications.get_rule(ctx, rule_id)
    )
    if isinstance(found, Response):
        return found
    return await _rule_page(request, *found)


@router.post("/notifications/rules/{rule_id}")
async def change_rule(
    request: Request,
    session: WriteSession,
    rule_id: PathId,
    min_priority: Field = "",
    min_severity: Field = "",
    environment: Field = "",
    template_id: Field = "",
    csrf_token: Csrf = "",
) -> Response:
    """Its filters (its event stays: another event is another rule)."""
    sent = {
        "min_priority": min_priority,
        "min_severity": min_severity,
        "environment": environment,
        "template_id": template_id,
    }
    fields = {name: value or None for name, value in sent.items()}

    async def save(ctx: Ctx, _: NotificationRule) -> NotificationRule:
        return await notifications.update_rule(ctx, rule_id, RuleUpdate.model_validate(fields))

    async def again(
        ctx: Ctx, rule: NotificationRule, status: int, refused: dict[str, str]
    ) -> Response:
        return await _rule_page(request, ctx, rule, status, refused, sent)

    return await change_one(
        request,
        session,
        WRITE,
        csrf_token,
        lambda ctx: notifications.get_rule(ctx, rule_id),
        fields,
        save,
        again,
        lambda rule: f"/notifications/channels/{rule.channel_id}#rules",
    )


async def _switch_rule(
    request: Request, session: AsyncSession, rule_id: int, csrf_token: str, enabled: bool
) -> Response:
    body = RuleUpdate(enabled=enabled)

    async def switch(ctx: Ctx) -> int:
        return (await notifications.update_rule(ctx, rule_id, body)).channel_id

    return await act(
        request,
        session,
        WRITE,
        csrf_token,
        switch,
        lambda channel_id: f"/notifications/channels/{channel_id}#rules",
    )


@router.post("/notifications/rules/{rule_id}/enable")
async def enable_rule(
    request: Request, session: WriteSession, rule_id: PathId, csrf_token: Csrf = ""
) -> Response:
    return await _switch_rule(request, session, rule_id, csrf_token, True)


@router.post("/notifications/rules/{rule_id}/disable")
async def disable_rule(
    request: Request, session: WriteSession, rule_id: PathId, csrf_token: Csrf = ""
) -> Response:
    """The rule routes nothing until it is enabled again."""
    return await _switch_rule(request, session, rule_id, csrf_token, False)


@router.post("/notifications/rules/{rule_id}/delete")
async def delete_rule(
    request: Request, session: WriteSession, rule_id: PathId, csrf_token: Csrf = ""
) -> Response:
    async def delete(ctx: Ctx) -> int:
        rule = await notifications.get_rule(ctx, rule_id)
        await notifications.delete_rule(ctx, rule_id)
        return rule.channel_id

    return await act(
        request,
        session,
        WRITE,
        csrf_token,
        delete,
        lambda channel_id: f"/notifications/channels/{channel_id}#rules",
    )


@router.get("/notifications/deliveries")
async def delivery_list(request: Request, session: PrimaryReadSession) -> Response:
    async def fetch(ctx: Ctx, query: DeliveryQuery) -> Rows[Any]:
        return await notifications.deliveries_page(ctx, query.filters(), query.limit, query.after)

    return await list_page(
        request, session, READ, "notification_deliveries.html", DeliveryQuery, fetch, **CHOICES
    )


@router.get("/notifications/deliveries/{delivery_id}")
async def delivery_page(
    request: Request, session: PrimaryReadSession, delivery_id: PathId
) -> Response:
    found = await page_of_one(
        request, session, READ, lambda ctx: notifications.get_delivery(ctx, delivery_id)
    )
    if isinstance(found, Response):
        return found
    ctx, delivery = found
    return render(
        request,
        "notification_delivery.html",
        delivery=delivery,
        attempts=await notifications.attempts_of(ctx, delivery_id),
        **common(request, ctx),
    )


@router.post("/notifications/deliveries/{delivery_id}/retry")
async def retry_delivery(
    request: Request, session: WriteSession, delivery_id: PathId, csrf_token: Csrf = ""
) -> Response:
    return await act(
        request,
        session,
        WRITE,
        csrf_token,
        lambda ctx: notifications.retry(ctx, delivery_id),
        f"/notifications/deliveries/{delivery_id}",
    )
