"""Rules for alerts: repeated deliveries of one alert (same fingerprint) update it instead
of piling up; firing → acknowledged → resolved."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from opsledger.alerts import repository
from opsledger.alerts.models import AlertSeverity, AlertStatus, MonitoringAlert
from opsledger.alerts.schemas import AlertCreate, AlertmanagerWebhook, WebhookAlert, WebhookResult
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
        raise ValidationFailed.at("host_id", f"host {body.host_id} does not exist")
    if body.deployment_id and await deployments.get(ctx.session, body.deployment_id, None) is None:
        message = f"deployment {body.deployment_id} does not exist"
        raise ValidationFailed.at("deployment_id", message)
    existing = None
    if body.fingerprint:
        existing = await repository.open_by_fingerprint(ctx.session, body.fingerprint)
    if existing is not None:
        return await _refresh(ctx, existing, body), False
    alert = MonitoringAlert(**body.model_dump())
    await _open(ctx, [(alert, host)], [alert])
    return alert, True


async def _refresh(ctx: Ctx, alert: MonitoringAlert, body: AlertCreate) -> MonitoringAlert:
    """An open alert raised again: what the new raise says replaces what it said."""
    fields = body.model_dump(exclude={"fingerprint"}, exclude_none=True)
    return await changes.update(ctx, RESOURCE, alert, fields)


async def _open(
    ctx: Ctx,
    opened: Sequence[tuple[MonitoringAlert, Host | None]],
    told: Sequence[MonitoringAlert],
) -> None:
    """New firing alerts (each with its host) inserted and audited; then the ``told``
    alerts (new or resolved, in the order they came) told to the channels their rules
    route them to; then the new ones remediated by the triggers they match."""
    await changes.create_all(ctx, RESOURCE, [alert for alert, _ in opened])
    known = {host.id: host for _, host in opened if host is not None}
    await _tell(ctx, told, known)
    await triggers.remediate(ctx, opened)


async def _tell(
    ctx: Ctx, alerts: Sequence[MonitoringAlert], known: Mapping[int, Host] | None = None
) -> None:
    """Deliveries for the alerts' events, each routed by its host's environment (the
    hosts not ``known`` are read, in one statement)."""
    if not alerts:
        return
    known = known or {}
    unread = {alert.host_id for alert in alerts if alert.host_id and alert.host_id not in known}
    by_id = {**known, **await hosts.by_ids(ctx.session, unread)}
    told = []
    for alert in alerts:
        host = by_id.get(alert.host_id) if alert.host_id else None
        told.append(events.alert(alert, host.environment if host else None))
    await outbox.enqueue_all(ctx, told)


async def _move(
    ctx: Ctx, alert: MonitoringAlert, target: AlertStatus, values: dict[str, Any]
) -> MonitoringAlert:
    return await changes.transition(
        ctx, RESOURCE, alert, ALERT_TRANSITIONS, target, values, action=target.value
    )


async def acknowledge(ctx: Ctx, alert_id: int) -> MonitoringAlert:
    now = utcnow()
    values = {"acknowledged_at": now, "acknowledged_by": ctx.user_id, "updated_at": now}
    return await _move(ctx, await get(ctx, alert_id), AlertStatus.acknowledged, values)


async def _resolve(ctx: Ctx, alert: MonitoringAlert) -> MonitoringAlert:
    now = utcnow()
    return await _move(ctx, alert, AlertStatus.resolved, {"resolved_at": now, "updated_at": now})


async def resolve(ctx: Ctx, alert_id: int) -> MonitoringAlert:
    alert = await _resolve(ctx, await get(ctx, alert_id))
    await _tell(ctx, [alert])
    return alert


SEVERITIES = {severity.value for severity in AlertSeverity}
# The labels that name an alert's host, first found first: a hostname or an address,
# ``instance`` with a port (``web-1:9100``, ``[2001:db8::1]:9100``).
HOST_LABELS = ("host", "hostname", "instance")


def _host_name(labels: dict[str, str]) -> str | None:
    """The hostname or address the first of HOST_LABELS names, or None."""
    for label in HOST_LABELS:
        value = labels.get(label)
        if value:
            try:
                return urlsplit(f"//{value}").hostname or value
            except ValueError:
                return value
    return None


def _raised(item: WebhookAlert, host: Host | None) -> AlertCreate:
    severity = item.labels.get("severity", "warning")
    title = item.annotations.get("summary") or item.labels.get("alertname") or "alert"
    return AlertCreate(
        source="alertmanager",
        severity=AlertSeverity(severity if severity in SEVERITIES else "warning"),
        title=title[:255],
        description=item.annotations.get("description"),
        labels=item.labels or None,
        fingerprint=item.fingerprint,
        host_id=host.id if host else None,
    )


class _Delivery:
    """One Alertmanager delivery, taken in its order. The alerts it opens wait to be
    inserted together until it changes an alert that exists (or ends): the audit trail
    and the channels see everything in the delivery's order."""

    def __init__(self, ctx: Ctx, open_alerts: dict[str, list[MonitoringAlert]]) -> None:
        self.ctx = ctx
        self.open_alerts = open_alerts  # fingerprint → its open alerts, oldest first
        self.opened: list[tuple[MonitoringAlert, Host | None]] = []
        self.told: list[MonitoringAlert] = []
        self.created = self.updated = self.resolved = 0

    async def settle(self) -> None:
        await _open(self.ctx, self.opened, self.told)
        self.opened, self.told = [], []

    async def take(self, item: WebhookAlert, host: Host | None) -> None:
        """Firing: the newest open alert of its fingerprint refreshed, or a new one;
        resolved: that alert resolved (the next resolved of the fingerprint finds the one
        before it, as a fresh lookup would)."""
        stack = self.open_alerts.setdefault(item.fingerprint, []) if item.fingerprint else []
        existing = stack[-1] if stack else None
        if existing is not None and self.opened:
            await self.settle()
        if item.status == "resolved":
            if existing is not None:
                stack.pop()
                self.told.append(await _resolve(self.ctx, existing))
                self.resolved += 1
            return
        raised = _raised(item, host)
        if existing is not None:
            await _refresh(self.ctx, existing, raised)
            self.updated += 1
            return
        alert = MonitoringAlert(**raised.model_dump())
        if item.startsAt is not None:
            alert.starts_at = item.startsAt
        self.opened.append((alert, host))
        self.told.append(alert)
        stack.append(alert)
        self.created += 1


async def receive_alertmanager(ctx: Ctx, body: AlertmanagerWebhook) -> WebhookResult:
    """Firing alerts are raised (or refreshed by fingerprint); resolved ones are resolved,
    in the delivery's order. Its hosts and open alerts are read once for the whole
    delivery, and the new alerts between two changes to existing ones are inserted
    together. Names and fingerprints match exactly, on MariaDB too (whose collation
    would also match another case or trailing spaces)."""
    items = body.alerts
    open_alerts = await repository.open_by_fingerprints(
        ctx.session, {item.fingerprint for item in items if item.fingerprint}
    )
    named = await hosts.named_all(
        ctx.session,
        {name for item in items if item.status == "firing" and (name := _host_name(item.labels))},
    )
    delivery = _Delivery(ctx, open_alerts)
    for item in items:
        name = _host_name(item.labels)
        await delivery.take(item, named.get(name) if name else None)
    await delivery.settle()
    return WebhookResult(
        created=delivery.created, updated=delivery.updated, resolved=delivery.resolved
    )
