"""HTTP for notification channels, rules and deliveries (admins only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, status

from opsledger.kit.errors import (
    AUTH_ERRORS,
    Conflict,
    NotFound,
    ValidationFailed,
    problem_responses,
)
from opsledger.kit.http import PathId
from opsledger.kit.pagination import Page
from opsledger.kit.routers import api_router
from opsledger.notifications import service
from opsledger.notifications.schemas import (
    ChannelCreate,
    ChannelQuery,
    ChannelRead,
    ChannelTestResult,
    ChannelUpdate,
    DeliveryDetail,
    DeliveryQuery,
    DeliveryRead,
    RuleCreate,
    RuleQuery,
    RuleRead,
    RuleUpdate,
)
from opsledger.security.auth import Require, RequireListing, RequireRead
from opsledger.security.context import Ctx

channels = api_router("/notification-channels", "notifications")
rules = api_router("/notification-rules", "notifications")
deliveries = api_router("/notification-deliveries", "notifications")
routers = (channels, rules, deliveries)

Read = Annotated[Ctx, Depends(RequireRead("notifications:read"))]
Listing = Annotated[Ctx, Depends(RequireListing("notifications:read"))]
Write = Annotated[Ctx, Depends(Require("notifications:write"))]
LIST_ERRORS = problem_responses(*AUTH_ERRORS, ValidationFailed)
READ_ERRORS = problem_responses(*AUTH_ERRORS, NotFound, ValidationFailed)
WRITE_ERRORS = problem_responses(*AUTH_ERRORS, NotFound, Conflict, ValidationFailed)


@channels.get("", responses=LIST_ERRORS)
async def list_channels(ctx: Listing, query: Annotated[ChannelQuery, Query()]) -> Page[ChannelRead]:
    rows = await service.channels_page(ctx, query.filters(), query.limit, query.after)
    return rows.read(ChannelRead.of)


@channels.get("/{channel_id}", responses=READ_ERRORS)
async def read_channel(channel_id: PathId, ctx: Read) -> ChannelRead:
    return ChannelRead.of(await service.get_channel(ctx, channel_id))


@channels.post("", status_code=status.HTTP_201_CREATED, responses=WRITE_ERRORS)
async def create_channel(body: ChannelCreate, ctx: Write) -> ChannelRead:
    """`webhook` needs `url` and `secret`, `slack` a `url`, `email` the recipients `to`.
    A URL must be http(s) and resolve to public addresses only (422 otherwise). The
    secret and the URL's path are never shown again."""
    return ChannelRead.of(await service.create_channel(ctx, body))


@channels.patch("/{channel_id}", responses=WRITE_ERRORS)
async def update_channel(channel_id: PathId, body: ChannelUpdate, ctx: Write) -> ChannelRead:
    return ChannelRead.of(await service.update_channel(ctx, channel_id, body))


@channels.delete("/{channel_id}", status_code=status.HTTP_204_NO_CONTENT, responses=READ_ERRORS)
async def delete_channel(channel_id: PathId, ctx: Write) -> None:
    """Its rules and deliveries go with it."""
    await service.delete_channel(ctx, channel_id)


@channels.post("/{channel_id}/test", responses=READ_ERRORS)
async def test_channel(channel_id: PathId, ctx: Write) -> ChannelTestResult:
    """Send a test message now and answer how it went (200 either way: `ok` says)."""
    return await service.test_channel(ctx, channel_id)


@rules.get("", responses=LIST_ERRORS)
async def list_rules(ctx: Listing, query: Annotated[RuleQuery, Query()]) -> Page[RuleRead]:
    rows = await service.rules_page(ctx, query.filters(), query.limit, query.after)
    return rows.read(RuleRead.model_validate)


@rules.get("/{rule_id}", responses=READ_ERRORS)
async def read_rule(rule_id: PathId, ctx: Read) -> RuleRead:
    return RuleRead.model_validate(await service.get_rule(ctx, rule_id))


@rules.post("", status_code=status.HTTP_201_CREATED, responses=WRITE_ERRORS)
async def create_rule(body: RuleCreate, ctx: Write) -> RuleRead:
    """Route `event` to a channel when every filter given matches. An event a channel's
    rules route twice is delivered to it once."""
    return RuleRead.model_validate(await service.create_rule(ctx, body))


@rules.patch("/{rule_id}", responses=WRITE_ERRORS)
async def update_rule(rule_id: PathId, body: RuleUpdate, ctx: Write) -> RuleRead:
    return RuleRead.model_validate(await service.update_rule(ctx, rule_id, body))


@rules.delete("/{rule_id}", status_code=status.HTTP_204_NO_CONTENT, responses=READ_ERRORS)
async def delete_rule(rule_id: PathId, ctx: Write) -> None:
    await service.delete_rule(ctx, rule_id)


@deliveries.get("", responses=LIST_ERRORS)
async def list_deliveries(
    ctx: Listing, query: Annotated[DeliveryQuery, Query()]
) -> Page[DeliveryRead]:
    """Newest first."""
    rows = await service.deliveries_page(ctx, query.filters(), query.limit, query.after)
    return rows.read(DeliveryRead.of)


@deliveries.get("/{delivery_id}", responses=READ_ERRORS)
async def read_delivery(delivery_id: PathId, ctx: Read) -> DeliveryDetail:
    """With every attempt: its HTTP status or SMTP reply, error and duration."""
    delivery = await service.get_delivery(ctx, delivery_id)
    return DeliveryDetail.with_attempts(delivery, await service.attempts_of(ctx, delivery_id))


@deliveries.post("/{delivery_id}/retry", responses=WRITE_ERRORS)
async def retry_delivery(delivery_id: PathId, ctx: Write) -> DeliveryRead:
    """Send a dead delivery again with a full set of attempts; 409 unless it is dead."""
    return DeliveryRead.of(await service.retry(ctx, delivery_id))
