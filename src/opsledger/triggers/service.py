"""Rules for triggers: made for a template whose prompts they map (the secret shown once),
by someone who may launch runs; and each delivery: signed with the trigger's secret
(GitHub's ``X-Hub-Signature-256`` or ours, ``X-Opsledger-Signature: t=<unix>,v1=<hex>``
over ``t.body`` with a key derived from the secret, at most five minutes old), launched
at most once per delivery id and per signature, ``rate_per_minute`` times a minute, as
the trigger's owner, with only the prompt values its JSON pointers name. Every signed
delivery, whatever came of it, is recorded and audited; unsigned ones are recorded within
a cap; a refusal is answered, not raised, so that its record commits."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError

from opsledger.alerts.models import MonitoringAlert
from opsledger.audit import changes
from opsledger.db.base import utcnow
from opsledger.freeze_windows.service import Frozen
from opsledger.hosts.models import Host
from opsledger.kit.errors import Conflict, ContentTooLarge, NotFound, ValidationFailed, found
from opsledger.kit.pagination import Rows
from opsledger.runs import service as runs
from opsledger.security import policy
from opsledger.security.context import Actor, AuthMethod, Ctx
from opsledger.security.launchers import may_change, may_launch
from opsledger.templates import service as templates
from opsledger.templates.schemas import TemplateLaunch
from opsledger.triggers import repository
from opsledger.triggers.models import DeliveryOutcome, Trigger, TriggerDelivery
from opsledger.triggers.schemas import TriggerCreate, TriggerUpdate
from opsledger.users import service as users
from opsledger.users.models import UserRole

RESOURCE = "trigger"
DELIVERY = "trigger_delivery"
MAX_BODY = 256 * 1024
MAX_AGE = timedelta(minutes=5)
MINUTE = timedelta(minutes=1)
# What our form's key is derived with (see ``our_key``).
OUR_FORM = b"opsledger-v1"
# Refused deliveries nobody signed recorded per trigger a minute; the rest are answered
# alike but not kept.
MAX_UNSIGNED = 20
DELIVERY_HEADERS = ("x-github-delivery", "x-opsledger-delivery")
MAX_DELIVERY_ID = 100
SCALARS = (str, int, float, bool)
SEEN = "seen before"


@dataclass(frozen=True)
class Answer:
    """What a delivery is answered: a status, and the delivery as recorded."""

    status: int
    delivery: TriggerDelivery


class Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


async def get(ctx: Ctx, trigger_id: int, *, locked: bool = False) -> Trigger:
    """The trigger; ``locked`` until the transaction ends."""
    read = repository.lock if locked else repository.get
    return found(await read(ctx.session, trigger_id), f"trigger {trigger_id} does not exist")


async def by_reference(ctx: Ctx, reference: str) -> Trigger:
    """A trigger by name or id (the CLI's argument)."""
    return found(
        await repository.by_reference(ctx.session, reference),
        f"trigger {reference!r} does not exist",
    )


async def page(ctx: Ctx, filters: dict[str, Any], limit: int, after: int | None) -> Rows[Trigger]:
    return await repository.page(ctx.session, filters, limit, after)


async def deliveries_page(
    ctx: Ctx, trigger_id: int, limit: int, after: int | None
) -> Rows[TriggerDelivery]:
    await get(ctx, trigger_id)
    return await repository.deliveries_page(ctx.session, trigger_id, limit, after)


async def _check(
    ctx: Ctx, template_id: int, fields: dict[str, Any], other_than: int | None
) -> None:
    name = fields.get("name")
    if name is not None and await repository.name_taken(ctx.session, name, other_than):
        raise Conflict(f"a trigger named {name!r} already exists")
    template = await templates.get(ctx, template_id)
    known = {prompt.name for prompt in templates.prompts_of(template)}
    unknown = sorted(set(fields.get("prompts") or {}) - known)
    if unknown:
        message = f"job template {template.name!r} has no prompt {', '.join(unknown)}"
        raise ValidationFailed.at(["prompts", unknown[0]], message)


async def create(ctx: Ctx, body: TriggerCreate, owner_id: int | None = None) -> tuple[Trigger, str]:
    """The trigger, its launches runs of ``owner_id`` (default: the acting user), and its
    secret (only here)."""
    may_launch(ctx, RESOURCE)
    fields = body.model_dump()
    await _check(ctx, body.template_id, fields, None)
    secret = secrets.token_urlsafe(32)
    owner = ctx.user_id if owner_id is None else owner_id
    trigger = Trigger(**fields, secret=secret, user_id=owner)
    return await changes.create(ctx, RESOURCE, trigger), secret


async def update(ctx: Ctx, trigger_id: int, body: TriggerUpdate) -> Trigger:
    may_launch(ctx, RESOURCE)
    trigger = await get(ctx, trigger_id)
    may_change(ctx, RESOURCE, trigger.user_id)
    fields = body.changes()
    await _check(ctx, trigger.template_id, fields, trigger.id)
    return await changes.update(ctx, RESOURCE, trigger, fields)


async def delete(ctx: Ctx, trigger_id: int) -> None:
    trigger = await get(ctx, trigger_id)
    may_change(ctx, RESOURCE, trigger.user_id)
    await changes.remove(ctx, RESOURCE, trigger)


async def rotate_secret(ctx: Ctx, trigger_id: int) -> tuple[Trigger, str]:
    """A new secret for the trigger (only here), the old one refused from now on."""
    trigger = await get(ctx, trigger_id)
    may_change(ctx, RESOURCE, trigger.user_id)
    secret = secrets.token_urlsafe(32)
    return await changes.update(ctx, RESOURCE, trigger, {"secret": secret}, action="rotate"), secret


def _hex(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).hexdigest().encode()


def our_key(secret: str) -> bytes:
    """Our form's own key, derived from the secret: an ``X-Opsledger-Signature`` is never
    also a GitHub-form signature of some other body (``t.body`` read as a body)."""
    return hmac.new(secret.encode(), OUR_FORM, hashlib.sha256).digest()


def verify(secret: str, headers: Mapping[str, str], body: bytes, now: datetime) -> str:
    """What the signature of ``body`` launches once under (GitHub's form carries no time,
    so the body itself; ours, its ``t`` and ``v1``), or Refused (401) unless the signature
    is valid, compared in constant time."""
    github = headers.get("x-hub-signature-256")
    if github is not None:
        scheme, _, given = github.partition("=")
        if scheme != "sha256" or not hmac.compare_digest(
            given.encode(), _hex(secret.encode(), body)
        ):
            raise Refused(401, "the X-Hub-Signature-256 signature does not match the body")
        return f"sha256:{hashlib.sha256(body).hexdigest()}"
    ours = headers.get("x-opsledger-signature")
    if ours is None:
        raise Refused(401, "unsigned: send X-Hub-Signature-256 or X-Opsledger-Signature")
    parts = dict(part.strip().partition("=")[::2] for part in ours.split(","))
    stamp, given = parts.get("t", ""), parts.get("v1", "")
    if not stamp.isdigit() or len(stamp) > 12:
        raise Refused(401, "X-Opsledger-Signature needs t=<unix seconds>,v1=<hex>")
    if not hmac.compare_digest(given.encode(), _hex(our_key(secret), stamp.encode() + b"." + body)):
        raise Refused(401, "the X-Opsledger-Signature signature does not match the body")
    if abs(now.timestamp() - int(stamp)) > MAX_AGE.total_seconds():
        raise Refused(401, "the signature's timestamp is more than 5 minutes from now")
    # v1 is an HMAC over t and the body: it names the pair.
    return f"v1:{given}"


def pointed(document: Any, pointer: str) -> Any:
    """What RFC 6901 ``pointer`` names in ``document``, or None where it names nothing."""
    for step in pointer[1:].split("/"):
        member = step.replace("~1", "/").replace("~0", "~")
        if isinstance(document, dict) and member in document:
            document = document[member]
        elif (
            isinstance(document, list)
            and member.isdigit()
            and (member == "0" or not member.startswith("0"))
            and int(member) < len(document)
        ):
            document = document[int(member)]
        else:
            return None
    return document


def _not_json(constant: str) -> Any:
    raise Refused(422, f"{constant} is not a JSON value")


def prompt_values(pointers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    """The prompt values the trigger's pointers name in the JSON ``body`` (a pointer that
    names nothing gives none); a value that is an object or a list is refused."""
    try:
        payload = json.loads(body, parse_constant=_not_json)
    except (ValueError, RecursionError):
        raise Refused(400, "the body is not JSON") from None
    values = {}
    for name, pointer in pointers.items():
        value = pointed(payload, pointer)
        if value is None:
            continue
        if not isinstance(value, SCALARS):
            raise Refused(422, f"prompt {name}: {pointer} names an object or a list")
        values[name] = value
    return values


def _sent_id(headers: Mapping[str, str]) -> str | None:
    return next((headers[name] for name in DELIVERY_HEADERS if name in headers), None)


def _delivery_id(headers: Mapping[str, str]) -> str:
    named = _sent_id(headers)
    if named is None or not 0 < len(named) <= MAX_DELIVERY_ID:
        raise Refused(400, "a delivery needs X-GitHub-Delivery or X-Opsledger-Delivery (1-100)")
    return named


def _named(ctx: Ctx, trigger: Trigger) -> Ctx:
    """Audit rows of the trigger's deliveries name it (no user signed in)."""
    actor = Actor(id=None, username=_name(trigger), role=UserRole.viewer, method=AuthMethod.system)
    return dataclasses.replace(ctx, actor=actor)


def _name(trigger: Trigger) -> str:
    return f"trigger:{trigger.name}"[:80]


async def _acting(ctx: Ctx, trigger: Trigger) -> Ctx:
    """The trigger acting for its owner: audit rows name the trigger, runs the owner."""
    owner = await users.get(ctx, trigger.user_id)
    if not owner.is_active:
        raise Refused(409, f"the trigger's owner {owner.username} is deactivated")
    if not policy.allows(owner.role, "jobs:run"):
        raise Refused(409, f"the trigger's owner {owner.username} may not launch runs")
    actor = Actor(id=owner.id, username=_name(trigger), role=owner.role, method=AuthMethod.system)
    return dataclasses.replace(ctx, actor=actor)


def _received(
    trigger: Trigger, delivery_id: str | None, body: bytes, now: datetime
) -> TriggerDelivery:
    return TriggerDelivery(
        trigger_id=trigger.id,
        delivery_id=delivery_id[:MAX_DELIVERY_ID] if delivery_id is not None else None,
        body_bytes=len(body),
        body_sha256=hashlib.sha256(body).hexdigest(),
        created_at=now,
    )


def _copy(record: TriggerDelivery) -> TriggerDelivery:
    """A new record of the same delivery (its first was rolled back with the run)."""
    fields = ("trigger_id", "delivery_id", "body_bytes", "body_sha256", "created_at")
    return TriggerDelivery(**{name: getattr(record, name) for name in fields})


def _launch(trigger: Trigger, body: bytes, limit: list[int] | None = None) -> TemplateLaunch:
    """The launch of the prompt values the trigger's pointers name in ``body``, on the
    hosts in ``limit`` only if given."""
    try:
        values = prompt_values(trigger.prompts, body) or None
        return TemplateLaunch(prompts=values, limit_host_ids=limit)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(step) for step in error["loc"])
        raise Refused(422, f"{where}: {error['msg']}") from None


async def deliver(
    ctx: Ctx,
    trigger_id: int,
    headers: Mapping[str, str],
    body: bytes,
    now: datetime | None = None,
) -> Answer:
    """One delivery to the trigger (404 for none), checked and launched or refused, and
    recorded (an unsigned one within a cap). ``headers`` are named in lower case."""
    now = now or utcnow()
    # One delivery of this trigger at a time.
    trigger = await get(ctx, trigger_id, locked=True)
    record = _received(trigger, _sent_id(headers), body, now)
    try:
        if len(body) > MAX_BODY:
            raise Refused(ContentTooLarge.status, f"a delivery is at most {MAX_BODY} bytes")
        signed = verify(trigger.secret, headers, body, now)
    except Refused as refused:
        return await _refuse_unsigned(ctx, record, refused)
    try:
        delivery_id = _delivery_id(headers)
    except Refused as refused:
        return await _refuse(_named(ctx, trigger), record, refused)
    return await _launch_once(
        ctx, trigger, record, delivery_id, signed, lambda: _launch(trigger, body)
    )


async def remediate(ctx: Ctx, opened: Sequence[tuple[MonitoringAlert, Host | None]]) -> None:
    """Each new firing alert (with its host) launches the template of the most specific
    trigger whose alert matchers its labels hold (the oldest of equals) against the
    alert's host, as a delivery of that trigger: within its rate and the freeze windows,
    once per alert, recorded and audited; the alert records the run, or why there is
    none. The triggers are read once for them all."""
    candidates = await repository.remediating(ctx.session) if opened else []
    for alert, host in opened:
        labels = alert.labels or {}
        matching = [t for t in candidates if labels.items() >= (t.alert_matchers or {}).items()]
        if matching:
            chosen = max(matching, key=lambda t: (len(t.alert_matchers or {}), -t.id))
            await _remediate(ctx, chosen, alert, host)


async def _remediate(ctx: Ctx, chosen: Trigger, alert: MonitoringAlert, host: Host | None) -> None:
    labels = alert.labels or {}
    trigger = await get(ctx, chosen.id, locked=True)
    body = json.dumps(
        {
            "alert_id": alert.id,
            "title": alert.title,
            "severity": alert.severity.value,
            "labels": labels,
            "host": host.hostname if host else None,
        },
        sort_keys=True,
    ).encode()
    key = f"alert:{alert.id}"
    record = _received(trigger, key, body, utcnow())
    if host is None:
        refused = Refused(422, "the alert names no known host (labels host, hostname, instance)")
        answer = await _refuse(_named(ctx, trigger), record, refused)
    else:
        target = host.id
        answer = await _launch_once(
            ctx, trigger, record, key, key, lambda: _launch(trigger, body, [target])
        )
    outcome = {
        "remediation_run_id": answer.delivery.run_id,
        "remediation": f"{_name(trigger)}: {answer.delivery.reason}"[:1000],
    }
    await changes.update(ctx, "alert", alert, outcome)


async def _launch_once(
    ctx: Ctx,
    trigger: Trigger,
    record: TriggerDelivery,
    delivery_id: str,
    signed: str,
    launch: Callable[[], TemplateLaunch],
) -> Answer:
    """The delivery's run, launched once per ``delivery_id`` and per ``signed`` as the
    trigger's owner, within its rate and the freeze windows; or why not; recorded."""
    named = _named(ctx, trigger)
    try:
        if await repository.launched_before(ctx.session, trigger.id, delivery_id, signed):
            return await _record(named, record, DeliveryOutcome.duplicate, 200, SEEN)
        if not trigger.enabled:
            raise Refused(409, f"trigger {trigger.name!r} is disabled")
        since = record.created_at - MINUTE
        cap = trigger.rate_per_minute
        if await repository.launched_since(ctx.session, trigger.id, since, cap) >= cap:
            raise Refused(429, f"at most {trigger.rate_per_minute} launches a minute")
        body = launch()
        acting = await _acting(ctx, trigger)
        try:
            # The run and its record stand or fall together: a delivery that loses the
            # race for the unique key launches nothing and is recorded as a duplicate.
            async with ctx.session.begin_nested():
                run = await runs.launch_template(
                    acting,
                    trigger.template_id,
                    body,
                    started_by=trigger.user_id,
                    now=record.created_at,
                )
                record.run_id = run.id
                record.launched_delivery = signed
                return await _record(acting, record, DeliveryOutcome.launched, 202, f"run {run.id}")
        except (Frozen, NotFound, Conflict) as refused:
            raise Refused(409, refused.detail) from None
        except ValidationFailed as refused:
            raise Refused(422, refused.detail) from None
        except IntegrityError:
            return await _record(named, _copy(record), DeliveryOutcome.duplicate, 200, SEEN)
    except Refused as refused:
        return await _refuse(named, record, refused)


async def _refuse_unsigned(ctx: Ctx, record: TriggerDelivery, refused: Refused) -> Answer:
    """A delivery nobody signed is anyone's: it is recorded without an audit row, and only
    the first MAX_UNSIGNED a minute are, so that junk cannot grow the database unbounded
    (the trigger's deliveries show the sender what was refused)."""
    record.outcome = DeliveryOutcome.refused
    record.status_code = refused.status
    record.reason = refused.reason
    since = record.created_at - MINUTE
    if await repository.unsigned_since(ctx.session, record.trigger_id, since) < MAX_UNSIGNED:
        await repository.add_delivery(ctx.session, record)
    return Answer(refused.status, record)


async def _refuse(ctx: Ctx, record: TriggerDelivery, refused: Refused) -> Answer:
    return await _record(ctx, record, DeliveryOutcome.refused, refused.status, refused.reason)


async def _record(
    ctx: Ctx, record: TriggerDelivery, outcome: DeliveryOutcome, status: int, reason: str
) -> Answer:
    record.outcome = outcome
    record.status_code = status
    record.reason = reason
    await changes.create(ctx, DELIVERY, record)
    return Answer(status, record)
