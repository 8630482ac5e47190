"""Sending one message to one channel: a signed JSON POST (webhook), a Slack-compatible
incoming webhook, or mail over SMTP. Each send is bounded in time, follows no redirect,
reads at most REPLY_BYTES of an answer, and says how it went instead of raising."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import httpx
import jinja2

from opsledger.config import Settings, SmtpSecurity
from opsledger.notifications import render
from opsledger.notifications.addresses import Pinned, Refused, resolve
from opsledger.notifications.models import ChannelKind, NotificationChannel

# What is kept of a receiver's answer: enough to say why it refused.
REPLY_BYTES = 2048
USER_AGENT = "opsledger-notifications"


@dataclass(frozen=True)
class Message:
    """What one delivery says: ``key`` is its Idempotency-Key, the same on every attempt."""

    key: str
    event: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class Sent:
    """How one attempt went: the HTTP status or SMTP reply code, the start of the answer,
    and the error when it failed."""

    ok: bool
    response_status: int | None
    reply: str | None
    error: str | None
    duration_ms: int


@dataclass(frozen=True)
class Answer:
    status: int | None
    reply: str | None
    error: str | None = None


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``t=<unix>,v1=<hex HMAC-SHA256 of "t.body">``: receivers recompute it and refuse
    an old ``t`` to drop replays."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def webhook_body(message: Message) -> bytes:
    document = {"id": message.key, "event": message.event, **message.payload}
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


@dataclass
class Outbound:
    """What the sends of one pass share: an HTTP client (its connections kept alive) and
    each URL's checked address, resolved once a pass (seconds) instead of once a send:
    every send of the pass connects to the address that was checked."""

    http: httpx.AsyncClient
    pinned: dict[str, Pinned] = field(default_factory=dict)

    async def pin(self, url: str, allow_private: bool) -> Pinned:
        pinned = self.pinned.get(url)
        if pinned is None:
            pinned = self.pinned[url] = await resolve(url, allow_private)
        return pinned


async def _post(
    out: Outbound, url: str, body: bytes, headers: dict[str, str], settings: Settings
) -> Answer:
    pinned = await out.pin(url, settings.notify_allow_private)
    sent_headers = {
        "Host": pinned.netloc,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **headers,
    }
    request = out.http.build_request(
        "POST",
        pinned.url,
        content=body,
        headers=sent_headers,
        extensions={"sni_hostname": pinned.host},
    )
    response = await out.http.send(request, stream=True, follow_redirects=False)
    try:
        reply = bytearray()
        async for chunk in response.aiter_raw():
            reply += chunk
            if len(reply) >= REPLY_BYTES:
                break
    finally:
        await response.aclose()
    text = bytes(reply[:REPLY_BYTES]).decode(errors="replace") or None
    error = None if response.is_success else f"HTTP {response.status_code}"
    return Answer(response.status_code, text, error)


async def _webhook(
    channel: NotificationChannel, message: Message, settings: Settings, out: Outbound
) -> Answer:
    body = webhook_body(message)
    headers = {"Idempotency-Key": message.key}
    if channel.secret:
        headers["X-Opsledger-Signature"] = signature(channel.secret, int(time.time()), body)
    return await _post(out, channel.url or "", body, headers, settings)


async def _slack(
    channel: NotificationChannel, message: Message, settings: Settings, out: Outbound
) -> Answer:
    body = json.dumps(render.slack(message.event, message.payload)).encode()
    return await _post(out, channel.url or "", body, {}, settings)


async def _email(
    channel: NotificationChannel, message: Message, settings: Settings, _: Outbound
) -> Answer:
    if not settings.smtp_host:
        return Answer(None, None, "no SMTP server is configured (OPSLEDGER_SMTP_HOST)")
    subject, text, html = render.mail(message.event, message.payload)
    mail = EmailMessage()
    mail["From"] = settings.smtp_from
    mail["To"] = ", ".join(channel.recipients or [])
    mail["Subject"] = subject
    mail["Message-ID"] = f"<{message.key}@opsledger>"
    mail.set_content(text)
    mail.add_alternative(html, subtype="html")
    security = settings.smtp_security
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    try:
        refused, reply = await aiosmtplib.send(
            mail,
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=password,
            use_tls=security is SmtpSecurity.tls,
            start_tls=security is SmtpSecurity.starttls,
            cert_bundle=str(settings.smtp_ca_file) if settings.smtp_ca_file else None,
            timeout=settings.notify_timeout_seconds,
        )
    except aiosmtplib.SMTPResponseException as answer:
        return Answer(answer.code, answer.message[:REPLY_BYTES], f"SMTP {answer.code}")
    # The server took the message (aiosmtplib raises on any other final reply); some
    # recipients may have been refused.
    if refused:
        reply += f" (refused: {', '.join(sorted(refused))})"
    return Answer(250, reply[:REPLY_BYTES])


SENDERS: dict[
    ChannelKind,
    Callable[[NotificationChannel, Message, Settings, Outbound], Awaitable[Answer]],
] = {ChannelKind.webhook: _webhook, ChannelKind.slack: _slack, ChannelKind.email: _email}


@asynccontextmanager
async def outbound(settings: Settings) -> AsyncIterator[Outbound]:
    """What a pass of sends shares. Its HTTP client takes no proxies from the environment
    (they would connect to a name again, past the address check) and follows no
    redirect."""
    async with httpx.AsyncClient(
        timeout=settings.notify_timeout_seconds, follow_redirects=False, trust_env=False
    ) as http:
        yield Outbound(http)


async def send(
    channel: NotificationChannel, message: Message, settings: Settings, out: Outbound
) -> Sent:
    started = time.monotonic()
    try:
        async with asyncio.timeout(settings.notify_timeout_seconds):
            answer = await SENDERS[channel.kind](channel, message, settings, out)
    except Refused as refused:
        answer = Answer(None, None, str(refused))
    except TimeoutError:
        answer = Answer(None, None, f"no answer within {settings.notify_timeout_seconds:g}s")
    except (httpx.HTTPError, aiosmtplib.SMTPException, OSError, jinja2.TemplateError) as failure:
        answer = Answer(None, None, f"{type(failure).__name__}: {failure}"[:REPLY_BYTES])
    return Sent(
        ok=answer.error is None,
        response_status=answer.status,
        reply=answer.reply,
        error=answer.error,
        duration_ms=round((time.monotonic() - started) * 1000),
    )
