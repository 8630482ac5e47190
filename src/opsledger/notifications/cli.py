"""``opsledger notify …``: channels (a URL read from standard input, never from the
command line, where `ps` and the shell's history would keep it; a webhook's secret
generated and printed once), the rules that route events to them, the deliveries with
each attempt, and a test message."""

from __future__ import annotations

import secrets
import sys
from typing import Annotated, Any

import typer
from rich.table import Table

from opsledger.commands import fail, load_settings, out, parse, run_in_context
from opsledger.notifications import service
from opsledger.notifications.addresses import origin
from opsledger.notifications.models import (
    ChannelKind,
    DeliveryStatus,
    EventName,
    NotificationChannel,
)
from opsledger.notifications.schemas import (
    ChannelCreate,
    ChannelTestResult,
    ChannelUpdate,
    DeliveryDetail,
    DeliveryQuery,
    RuleCreate,
    RuleQuery,
)
from opsledger.security.context import Ctx
from opsledger.templates import service as templates

notify_cli = typer.Typer(no_args_is_help=True)
channels_cli = typer.Typer(no_args_is_help=True)
rules_cli = typer.Typer(no_args_is_help=True)
deliveries_cli = typer.Typer(no_args_is_help=True)
notify_cli.add_typer(channels_cli, name="channels", help="Where notifications go.")
notify_cli.add_typer(rules_cli, name="rules", help="Which events go to which channel.")
notify_cli.add_typer(deliveries_cli, name="deliveries", help="What was sent, and how it went.")

ChannelArgument = Annotated[str, typer.Argument(help="The channel's name or id.")]
Limit = Annotated[int, typer.Option(min=1, max=500)]


def _url_from_stdin(kind: ChannelKind) -> str:
    url = sys.stdin.readline().strip()
    if not url:
        fail(f"a {kind} channel's URL is read from standard input, and none came")
    return url


async def _channel_id(ctx: Ctx, reference: str) -> int:
    return (await service.channel_by_reference(ctx, reference)).id


def _where(channel: NotificationChannel) -> str:
    if channel.url:
        return origin(channel.url)
    return ", ".join(channel.recipients or ())


@channels_cli.command("list")
def list_channels(limit: Limit = 100) -> None:
    """List channels: where each sends (a URL's origin only) and whether it is on."""
    settings = load_settings()
    rows = run_in_context(settings, lambda ctx: service.channels_page(ctx, {}, limit, None))
    table = Table("id", "name", "kind", "sends to", "secret", "enabled")
    for channel in rows.items:
        table.add_row(
            str(channel.id),
            channel.name,
            channel.kind,
            _where(channel),
            "yes" if channel.secret is not None else "-",
            "yes" if channel.enabled else "no",
        )
    out.print(table)


@channels_cli.command("add")
def add_channel(
    name: Annotated[str, typer.Argument(help="The channel's name.")],
    kind: Annotated[ChannelKind, typer.Option("--kind", "-k")],
    to: Annotated[
        list[str] | None, typer.Option("--to", help="email: a recipient; repeatable.")
    ] = None,
    default_rules: Annotated[
        bool, typer.Option(help="Route the default events to it (failures, urgent tickets, …).")
    ] = False,
) -> None:
    """Add a channel. webhook and slack read their URL from standard input; a webhook's
    signing secret is generated and printed once."""
    settings = load_settings()
    fields: dict[str, Any] = {"name": name, "kind": kind, "to": to or None}
    if kind is not ChannelKind.email:
        fields["url"] = _url_from_stdin(kind)
    secret = secrets.token_urlsafe(32) if kind is ChannelKind.webhook else None
    body = parse(ChannelCreate, fields | {"secret": secret})

    async def add(ctx: Ctx) -> NotificationChannel:
        channel = await service.create_channel(ctx, body)
        if default_rules:
            await service.add_default_rules(ctx, channel.id)
        return channel

    channel = run_in_context(settings, add)
    out.print(f"channel {channel.id} {channel.name} ({channel.kind}) added", highlight=False)
    if default_rules:
        out.print(f"with {len(service.DEFAULT_RULES)} default rules", highlight=False)
    if secret is not None:
        out.print(f"signing secret (shown once): {secret}", highlight=False)


def _switch(reference: str, enabled: bool) -> None:
    settings = load_settings()
    body = parse(ChannelUpdate, {"enabled": enabled})

    async def switch(ctx: Ctx) -> None:
        await service.update_channel(ctx, await _channel_id(ctx, reference), body)

    run_in_context(settings, switch)
    out.print(f"channel {reference} {'enabled' if enabled else 'disabled'}", highlight=False)


@channels_cli.command("enable")
def enable_channel(channel: ChannelArgument) -> None:
    """Send to this channel again: what is due goes out."""
    _switch(channel, True)


@channels_cli.command("disable")
def disable_channel(channel: ChannelArgument) -> None:
    """Stop sending to this channel; its deliveries wait until it is enabled."""
    _switch(channel, False)


@channels_cli.command("delete")
def delete_channel(channel: ChannelArgument) -> None:
    """Delete a channel with its rules and deliveries."""
    settings = load_settings()

    async def delete(ctx: Ctx) -> None:
        await service.delete_channel(ctx, await _channel_id(ctx, channel))

    run_in_context(settings, delete)
    out.print(f"channel {channel} deleted", highlight=False)


@notify_cli.command("test")
def test_channel(channel: ChannelArgument) -> None:
    """Send a test message now; exit code 1 when it was not taken."""
    settings = load_settings()

    async def test(ctx: Ctx) -> ChannelTestResult:
        return await service.test_channel(ctx, await _channel_id(ctx, channel))

    result = run_in_context(settings, test)
    answer = f"answer {result.response_status}" if result.response_status else "no answer"
    if not result.ok:
        fail(f"channel {channel}: {result.error or answer} ({result.duration_ms} ms)")
    out.print(f"channel {channel}: delivered, {answer} ({result.duration_ms} ms)", highlight=False)


@rules_cli.command("list")
def list_rules(
    channel: Annotated[str | None, typer.Option(help="Only this channel's (name or id).")] = None,
    limit: Limit = 100,
) -> None:
    """List rules: the event each routes, its filters, its channel."""
    settings = load_settings()

    async def page(ctx: Ctx) -> list[tuple[str, ...]]:
        filters: dict[str, Any] = {}
        if channel is not None:
            filters["channel_id"] = await _channel_id(ctx, channel)
        query = parse(RuleQuery, filters | {"limit": limit})
        rows = await service.rules_page(ctx, query.filters(), query.limit, None)
        return [
            (
                str(rule.id),
                rule.event,
                str(rule.channel_id),
                ", ".join(
                    f"{name}={value}"
                    for name in ("min_priority", "min_severity", "environment", "template_id")
                    if (value := getattr(rule, name)) is not None
                )
                or "-",
                "yes" if rule.enabled else "no",
            )
            for rule in rows.items
        ]

    table = Table("id", "event", "channel", "filters", "enabled")
    for row in run_in_context(settings, page):
        table.add_row(*row)
    out.print(table)


@rules_cli.command("add")
def add_rule(
    channel: Annotated[str, typer.Option("--channel", "-c", help="Name or id.")],
    event: Annotated[EventName, typer.Option("--event", "-e")],
    min_priority: Annotated[str | None, typer.Option(help="Ticket events: at least.")] = None,
    min_severity: Annotated[str | None, typer.Option(help="Alert events: at least.")] = None,
    environment: Annotated[str | None, typer.Option(help="Only on this environment.")] = None,
    template: Annotated[str | None, typer.Option(help="Only this template's (name or id).")] = None,
) -> None:
    """Route an event to a channel, when every filter given matches."""
    settings = load_settings()

    async def add(ctx: Ctx) -> int:
        fields: dict[str, Any] = {
            "channel_id": await _channel_id(ctx, channel),
            "event": event,
            "min_priority": min_priority,
            "min_severity": min_severity,
            "environment": environment,
        }
        if template is not None:
            fields["template_id"] = (await templates.by_reference(ctx, template)).id
        return (await service.create_rule(ctx, parse(RuleCreate, fields))).id

    rule_id = run_in_context(settings, add)
    out.print(f"rule {rule_id}: {event} to channel {channel}", highlight=False)


@rules_cli.command("delete")
def delete_rule(rule: Annotated[int, typer.Argument(help="The rule's id.", min=1)]) -> None:
    """Delete a rule: its event no longer goes to its channel."""
    settings = load_settings()
    run_in_context(settings, lambda ctx: service.delete_rule(ctx, rule))
    out.print(f"rule {rule} deleted", highlight=False)


@deliveries_cli.command("list")
def list_deliveries(
    channel: Annotated[str | None, typer.Option(help="Only this channel's (name or id).")] = None,
    status: Annotated[DeliveryStatus | None, typer.Option()] = None,
    limit: Limit = 50,
) -> None:
    """The newest deliveries: their event, status, attempts and last error."""
    settings = load_settings()

    async def page(ctx: Ctx) -> list[tuple[str, ...]]:
        filters: dict[str, Any] = {"status": status, "limit": limit}
        if channel is not None:
            filters["channel_id"] = await _channel_id(ctx, channel)
        query = parse(DeliveryQuery, filters)
        rows = await service.deliveries_page(ctx, query.filters(), query.limit, None)
        return [
            (
                str(d.id),
                d.created_at.isoformat(timespec="seconds"),
                d.event,
                str(d.channel_id),
                d.status,
                str(d.attempts),
                d.last_error or "",
            )
            for d in rows.items
        ]

    table = Table("id", "at", "event", "channel", "status", "attempts", "last error")
    for row in run_in_context(settings, page):
        table.add_row(*row)
    out.print(table)


@deliveries_cli.command("show")
def show_delivery(delivery: Annotated[int, typer.Argument(min=1)]) -> None:
    """A delivery with every attempt: its answer, error and duration."""
    settings = load_settings()

    async def detail(ctx: Ctx) -> DeliveryDetail:
        row = await service.get_delivery(ctx, delivery)
        return DeliveryDetail.with_attempts(row, await service.attempts_of(ctx, delivery))

    found = run_in_context(settings, detail)
    out.print(
        f"delivery {found.id} ({found.uuid}): {found.event} to channel {found.channel_id}, "
        f"{found.status} after {found.attempts} attempt(s)",
        highlight=False,
    )
    out.print(found.text, highlight=False, markup=False)
    table = Table("attempt", "at", "ok", "answer", "error", "ms")
    for attempt in found.attempt_log:
        table.add_row(
            str(attempt.number),
            attempt.created_at.isoformat(timespec="seconds"),
            "yes" if attempt.ok else "no",
            str(attempt.response_status or "-"),
            attempt.error or "",
            str(attempt.duration_ms),
        )
    out.print(table)


@deliveries_cli.command("retry")
def retry_delivery(delivery: Annotated[int, typer.Argument(min=1)]) -> None:
    """Send a dead delivery again, with a full set of attempts."""
    settings = load_settings()
    run_in_context(settings, lambda ctx: service.retry(ctx, delivery))
    out.print(f"delivery {delivery} will be sent again", highlight=False)
