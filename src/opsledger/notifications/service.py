"""Rules for notification channels, rules and deliveries: admins manage them; a channel's
URL must be one notifications may reach; a rule's filters must fit its event; a dead
delivery may be sent again."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.audit import changes
from opsledger.audit import service as audit
from opsledger.db.base import utcnow
from opsledger.kit.errors import Conflict, ValidationFailed, found
from opsledger.kit.pagination import Rows
from opsledger.notifications import repository, senders
from opsledger.notifications.addresses import Refused, resolve
from opsledger.notifications.models import (
    DeliveryStatus,
    EventName,
    NotificationAttempt,
    NotificationChannel,
    NotificationDelivery,
    NotificationRule,
)
from opsledger.notifications.schemas import (
    ChannelCreate,
    ChannelTestResult,
    ChannelUpdate,
    RuleCreate,
    RuleUpdate,
    check_filters,
    check_kind,
)
from opsledger.security.context import Ctx
from opsledger.templates import repository as templates

CHANNEL = "notification_channel"
RULE = "notification_rule"
DELIVERY = "notification_delivery"

# What an admin may do to a delivery: send a dead one again. The dispatcher moves
# deliveries itself: it claims them locked and settles them under its claim
# (repository.claim, settle).
DELIVERY_TRANSITIONS: dict[DeliveryStatus, set[DeliveryStatus]] = {
    DeliveryStatus.pending: set(),
    DeliveryStatus.sending: set(),
    DeliveryStatus.delivered: set(),
    DeliveryStatus.dead: {DeliveryStatus.pending},
}


# What a channel is told by default: every failure (a timeout is one) and the recovery
# after it, urgent tickets opened or overdue, critical alerts, schedules that made no run.
DEFAULT_RULES: tuple[dict[str, str], ...] = (
    {"event": EventName.job_failed},
    {"event": EventName.job_recovered},
    {"event": EventName.run_failed},
    {"event": EventName.run_recovered},
    {"event": EventName.ticket_opened, "min_priority": "high"},
    {"event": EventName.ticket_overdue, "min_priority": "high"},
    {"event": EventName.alert_firing, "min_severity": "critical"},
    {"event": EventName.schedule_skipped},
    {"event": EventName.schedule_failed},
)


async def get_channel(ctx: Ctx, channel_id: int) -> NotificationChannel:
    return found(
        await repository.get_channel(ctx.session, channel_id),
        f"notification channel {channel_id} does not exist",
    )


async def channel_by_reference(ctx: Ctx, reference: str) -> NotificationChannel:
    """A channel by name or id (the CLI's argument)."""
    return found(
        await repository.channel_by_reference(ctx.session, reference),
        f"notification channel {reference!r} does not exist",
    )


async def channels_page(
    ctx: Ctx, filters: dict[str, Any], limit: int, after: int | None
) -> Rows[NotificationChannel]:
    return await repository.channels_page(ctx.session, filters, limit, after)


async def _check_channel(ctx: Ctx, fields: dict[str, Any], other_than: int | None) -> None:
    name = fields.get("name")
    if name is not None and await repository.channel_name_taken(ctx.session, name, other_than):
        raise Conflict(f"a notification channel named {name!r} already exists")
    url = fields.get("url")
    if url is not None:
        try:
            await resolve(url, ctx.settings.notify_allow_private)
        except Refused as refused:
            raise ValidationFailed.at("url", str(refused)) from None


def _columns(fields: dict[str, Any]) -> dict[str, Any]:
    """Request fields as the columns keep them: the secret in the clear for the column
    type to encrypt, recipients under their column's name."""
    columns = dict(fields)
    if "to" in columns:
        columns["recipients"] = columns.pop("to")
    if columns.get("secret") is not None:
        columns["secret"] = columns["secret"].get_secret_value()
    return columns


async def create_channel(ctx: Ctx, body: ChannelCreate) -> NotificationChannel:
    fields = body.model_dump(exclude_none=True)
    await _check_channel(ctx, fields, None)
    return await changes.create(ctx, CHANNEL, NotificationChannel(**_columns(fields)))


async def update_channel(ctx: Ctx, channel_id: int, body: ChannelUpdate) -> NotificationChannel:
    channel = await get_channel(ctx, channel_id)
    fields = body.changes()
    given = {"url": channel.url, "to": channel.recipients, "secret": channel.secret}
    given |= {name: fields[name] for name in given if name in fields}
    try:
        check_kind(channel.kind, {name for name, value in given.items() if value is not None})
    except ValueError as bad:
        raise ValidationFailed(str(bad)) from None
    await _check_channel(ctx, fields, channel.id)
    return await changes.update(ctx, CHANNEL, channel, _columns(fields))


async def delete_channel(ctx: Ctx, channel_id: int) -> None:
    """Its rules and deliveries go with it."""
    await changes.remove(ctx, CHANNEL, await get_channel(ctx, channel_id))


async def test_channel(ctx: Ctx, channel_id: int) -> ChannelTestResult:
    """Send a test message now, past the outbox, and say how it went (audited)."""
    channel = await get_channel(ctx, channel_id)
    message = senders.Message(
        key=f"test-{channel.id}-{utcnow().timestamp():.0f}",
        event="test",
        payload={"text": f"Test message from opsledger to channel {channel.name!r}"},
    )
    async with senders.outbound(ctx.settings) as out:
        sent = await senders.send(channel, message, ctx.settings, out)
    result = ChannelTestResult(
        ok=sent.ok,
        response_status=sent.response_status,
        reply=sent.reply,
        error=sent.error,
        duration_ms=sent.duration_ms,
    )
    after = result.model_dump(include={"ok", "response_status", "error"})
    audit.record(ctx, "test", CHANNEL, channel.id, after=after)
    return result


async def get_rule(ctx: Ctx, rule_id: int) -> NotificationRule:
    return found(
        await repository.get_rule(ctx.session, rule_id),
        f"notification rule {rule_id} does not exist",
    )


async def rules_page(
    ctx: Ctx, filters: dict[str, Any], limit: int, after: int | None
) -> Rows[NotificationRule]:
    return await repository.rules_page(ctx.session, filters, limit, after)


async def _check_rule(ctx: Ctx, fields: dict[str, Any]) -> None:
    channel_id = fields.get("channel_id")
    if channel_id is not None and await repository.get_channel(ctx.session, channel_id) is None:
        raise ValidationFailed.at("channel_id", f"notification channel {channel_id} does not exist")
    template_id = fields.get("template_id")
    if template_id is not None and await templates.get(ctx.session, template_id) is None:
        raise ValidationFailed.at("template_id", f"job template {template_id} does not exist")


async def create_rule(ctx: Ctx, body: RuleCreate) -> NotificationRule:
    fields = body.model_dump()
    await _check_rule(ctx, fields)
    return await changes.create(ctx, RULE, NotificationRule(**fields))


async def update_rule(ctx: Ctx, rule_id: int, body: RuleUpdate) -> NotificationRule:
    rule = await get_rule(ctx, rule_id)
    fields = body.changes()
    merged = {name: fields.get(name, getattr(rule, name)) for name in fields}
    try:
        check_filters(EventName(rule.event), merged)
    except ValueError as bad:
        raise ValidationFailed(str(bad)) from None
    await _check_rule(ctx, fields)
    return await changes.update(ctx, RULE, rule, fields)


async def add_default_rules(ctx: Ctx, channel_id: int | None = None) -> list[str]:
    """The default rules (DEFAULT_RULES) on a channel, or on every enabled channel that
    has no rule at all (``opsledger up``): the names of the channels given them."""
    if channel_id is not None:
        chosen = [await get_channel(ctx, channel_id)]
    else:
        chosen = await repository.channels_without_rules(ctx.session)
    for channel in chosen:
        for fields in DEFAULT_RULES:
            await create_rule(ctx, RuleCreate.model_validate({"channel_id": channel.id, **fields}))
    return [channel.name for channel in chosen]


async def delete_rule(ctx: Ctx, rule_id: int) -> None:
    await changes.remove(ctx, RULE, await get_rule(ctx, rule_id))


async def get_delivery(ctx: Ctx, delivery_id: int) -> NotificationDelivery:
    return found(
        await repository.get_delivery(ctx.session, delivery_id),
        f"notification delivery {delivery_id} does not exist",
    )


async def deliveries_page(
    ctx: Ctx, filters: dict[str, Any], limit: int, after: int | None
) -> Rows[NotificationDelivery]:
    """Newest first."""
    return await repository.deliveries_page(ctx.session, filters, limit, after)


async def attempts_of(ctx: Ctx, delivery_id: int) -> list[NotificationAttempt]:
    return await repository.attempts_of(ctx.session, delivery_id)


async def retry(ctx: Ctx, delivery_id: int) -> NotificationDelivery:
    """Send a dead delivery again, with a full set of attempts (409 unless it is dead)."""
    delivery = await get_delivery(ctx, delivery_id)
    values = {"tries_left": ctx.settings.notify_max_attempts, "next_attempt_at": utcnow()}
    return await changes.transition(
        ctx,
        DELIVERY,
        delivery,
        DELIVERY_TRANSITIONS,
        DeliveryStatus.pending,
        values,
        action="retry",
    )


async def outbox(session: AsyncSession) -> tuple[dict[str, int], datetime | None]:
    """For the metrics: deliveries waiting by status, and the oldest one's creation."""
    return await repository.outbox(session)
