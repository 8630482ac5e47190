"""Rules for alerts: repeated deliveries of one alert (same fingerprint) update it instead
of piling up; firing → acknowledged → resolved."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from opsledger.alerts import repository
from opsledger.alerts.models import AlertSeverity, AlertStatus, MonitoringAlert
from opsledger.alerts.schemas import AlertCreate, AlertmanagerWebhook, WebhookResult
from opsledger.audit import changes
from opsledger.db.base import utcnow
from opsledger.deployments import repository as deployments
from opsledger.hosts import repository as hosts
from opsledger.hosts.models import Host
from opsledger.kit.errors import ValidationFailed, found
from opsledger.kit.pagination import Rows
from opsledger.notifications import events, outbox
from opsledger.security.context import Ctx
from opsledger.triggers import service as triggers

RESOURCE = "alert"

ALERT_TRANSITIONS: dict[AlertStatus, set[AlertStatus]] = {
    AlertStatus.firing: {AlertStatus.acknowledged, AlertStatus.resolved},
    AlertStatus.acknowledged: {AlertStatus.resolved},
    AlertStatus.resolved: set(),
}


async def get(ctx: Ctx, alert_id: int) -> MonitoringAlert:
    return found(await repository.get(ctx.session, alert_id), f"alert {alert_id} does not exist")


async def page(
    ctx: Ctx, filters: dict[str, Any], limit: int, after: int | None
) -> Rows[MonitoringAlert]:
    return await repository.page(ctx.session, filters, limit, after)


async def raise_alert(ctx: Ctx, body: AlertCreate) -> tuple[MonitoringAlert, bool]:
    """The alert and whether it is new (False: an open alert with its fingerprint was
    updated instead)."""
    host = await hosts.get(ctx.session, body.host_id) if body.host_id else None
    if body.host_id and host is None:
        raise ValidationFailed(f"host {body.host_id} does not exist")
    if body.deployment_id and await deployments.get(ctx.session, body.deployment_id, None) is None:
        raise ValidationFailed(f"deployment {body.deployment_id} does not exist")
    fields = body.model_dump()
    existing = None
    if body.fingerprint:
        existing = await repository.open_by_fingerprint(ctx.session, body.fingerprint)
    if existing is not None:
        updated = {k: v for k, v in fields.items() if v is not None and k != "fingerprint"}
        return await changes.update(ctx, RESOURCE, existing, updated), False
    alert = await changes.create(ctx, RESOURCE, MonitoringAlert(**fields))
    await outbox.enqueue(ctx, events.alert(alert, host.environment if host else None))
    await triggers.remediate(ctx, alert, host)
    return alert, True


async def _move(
    ctx: Ctx, alert_id: int, target: AlertStatus, values: dict[str, Any]
) -> MonitoringAlert:
    alert = await get(ctx, alert_id)
    return await changes.transition(
        ctx, RESOURCE, alert, ALERT_TRANSITIONS, target, values, action=target.value
    )


async def acknowledge(ctx: Ctx, alert_id: int) -> MonitoringAlert:
    now = utcnow()
    values = {"acknowledged_at": now, "acknowledged_by": ctx.user_id, "updated_at": now}
    return await _move(ctx, alert_id, AlertStatus.acknowledged, values)


async def resolve(ctx: Ctx, alert_id: int) -> MonitoringAlert:
    now = utcnow()
    values = {"resolved_at": now, "updated_at": now}
    alert = await _move(ctx, alert_id, AlertStatus.resolved, values)
    host = await hosts.get(ctx.session, alert.host_id) if alert.host_id else None
    await outbox.enqueue(ctx, events.alert(alert, host.environment if host else None))
    return alert


SEVERITIES = {severity.value for severity in AlertSeverity}
# The labels that name an alert's host, first found first: a hostname or an address,
# ``instance`` with a port (``web-1:9100``, ``[2001:db8::1]:9100``).
HOST_LABELS = ("host", "hostname", "instance")


async def _host_of(ctx: Ctx, labels: dict[str, str]) -> Host | None:
    """The active host the first of HOST_LABELS names (by hostname, or by an address only
    one host has), or None."""
    for label in HOST_LABELS:
        value = labels.get(label)
        if value:
            try:
                name = urlsplit(f"//{value}").hostname or value
            except ValueError:
                name = value
            return await hosts.named(ctx.session, name)
    return None


async def receive_alertmanager(ctx: Ctx, body: AlertmanagerWebhook) -> WebhookResult:
    """Firing alerts are raised (or refreshed by fingerprint); resolved ones are resolved."""
    created = updated = resolved = 0
    for item in body.alerts:
        if item.status == "resolved":
            open_alert = (
                await repository.open_by_fingerprint(ctx.session, item.fingerprint)
                if item.fingerprint
                else None
            )
            if open_alert is not None:
                await resolve(ctx, open_alert.id)
                resolved += 1
            continue
        severity = item.labels.get("severity", "warning")
        host = await _host_of(ctx, item.labels)
        alert, new = await raise_alert(
            ctx,
            AlertCreate(
                source="alertmanager",
                severity=AlertSeverity(severity if severity in SEVERITIES else "warning"),
                title=(item.annotations.get("summary") or item.labels.get("alertname") or "alert")[
                    :255
                ],
                description=item.annotations.get("description"),
                labels=item.labels or None,
                fingerprint=item.fingerprint,
                host_id=host.id if host else None,
            ),
        )
        if new and item.startsAt is not None:
            alert.starts_at = item.startsAt
        created, updated = created + new, updated + (not new)
    return WebhookResult(created=created, updated=updated, resolved=resolved)
