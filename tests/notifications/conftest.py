"""Real receivers on loopback: an HTTP server that checks each webhook's signature and
Idempotency-Key and can be told to fail, and an SMTP server (aiosmtpd); an app whose
notifications may reach them (OPSLEDGER_NOTIFY_ALLOW_PRIVATE) and a dispatcher to drive."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.config import Settings
from opsledger.notifications.dispatch import deliver_due
from tests.api import Person, api_settings, build_app, client_for
from tests.factories import unique

SECRET = "a-webhook-secret-of-some-length"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    def signed_by(self, secret: str) -> bool:
        """Whether X-Opsledger-Signature is t=<unix>,v1=<HMAC-SHA256 of "t.body">."""
        parts = dict(
            part.split("=", 1) for part in self.headers["x-opsledger-signature"].split(",")
        )
        expected = hmac.new(
            secret.encode(), parts["t"].encode() + b"." + self.body, hashlib.sha256
        ).hexdigest()
        return hmac.compare_digest(parts["v1"], expected)


@dataclass
class Receiver:
    """An HTTP/1.1 server on loopback that records every request and answers
    ``statuses`` in turn (then 200), each with ``reply`` as its body."""

    port: int = 0
    requests: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    reply: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path: str) -> list[Received]:
        return [each for each in self.requests if each.path == path]

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        request_line, *lines = head.strip().split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.requests.append(Received(request_line.split(" ")[1], headers, body))
        status = self.statuses.pop(0) if self.statuses else 200
        extra = "".join(f"{name}: {value}\r\n" for name, value in self.headers.items())
        writer.write(
            f"HTTP/1.1 {status} X\r\nContent-Length: {len(self.reply)}\r\n{extra}"
            "Connection: close\r\n\r\n".encode()
            + self.reply
        )
        try:
            await writer.drain()
        finally:
            writer.close()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    made = Receiver()
    server = await asyncio.start_server(made.handle, "127.0.0.1", 0)
    made.port = server.sockets[0].getsockname()[1]
    async with server:
        yield made


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Envelope] = []
        self.port = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.messages.append(envelope)
        return "250 queued as test"

    def to(self, address: str) -> list[str]:
        """The mails sent to ``address``, as text."""
        return [
            (each.content or b"").decode() if isinstance(each.content, bytes) else str(each.content)
            for each in self.messages
            if address in each.rcpt_tos
        ]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    box.port = controller.port
    yield box
    controller.stop()


def notify_overrides(mailbox: Mailbox) -> dict[str, Any]:
    return {
        "notify_allow_private": True,
        "smtp_host": "127.0.0.1",
        "smtp_port": mailbox.port,
        "smtp_security": "none",
        "notify_max_attempts": 3,
        "notify_retry_base_seconds": 0.01,
        "notify_retry_max_seconds": 0.02,
        "notify_timeout_seconds": 5,
        "public_url": "https://ops.example",
    }


@pytest.fixture(scope="session")
def notify_settings(mailbox: Mailbox) -> Settings:
    return api_settings(**notify_overrides(mailbox))


@pytest.fixture(scope="session")
def notify_app(engine: AsyncEngine, mailbox: Mailbox) -> FastAPI:
    """The app of a site whose notifications may reach loopback (the receivers)."""
    return build_app(engine, **notify_overrides(mailbox))


@pytest.fixture
async def notify(notify_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async for client in client_for(notify_app):
        yield client


@dataclass
class Lab:
    """Channels and rules made through the API, and the dispatcher driven by hand."""

    client: httpx.AsyncClient
    admin: Person
    engine: AsyncEngine
    settings: Settings
    receiver: Receiver
    mailbox: Mailbox

    async def channel(self, kind: str = "webhook", **fields: Any) -> dict[str, Any]:
        name = unique(kind)
        body: dict[str, Any] = {"name": name, "kind": kind}
        if kind == "webhook":
            body |= {"url": self.receiver.url(f"/{name}"), "secret": SECRET}
        elif kind == "slack":
            body |= {"url": self.receiver.url(f"/{name}")}
        else:
            body |= {"to": [f"{name}@example.com"]}
        response = await self.client.post(
            "/notification-channels", json=body | fields, headers=self.admin.headers
        )
        assert response.status_code == 201, response.text
        return dict(response.json()) | {"path": f"/{name}", "address": f"{name}@example.com"}

    async def rule(self, channel: dict[str, Any], event: str, **filters: Any) -> dict[str, Any]:
        response = await self.client.post(
            "/notification-rules",
            json={"channel_id": channel["id"], "event": event, **filters},
            headers=self.admin.headers,
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def deliveries(self, channel: dict[str, Any]) -> list[dict[str, Any]]:
        response = await self.client.get(
            "/notification-deliveries",
            params={"channel_id": channel["id"], "limit": 500},
            headers=self.admin.headers,
        )
        assert response.status_code == 200, response.text
        return list(response.json()["items"])

    async def deliver(self) -> list[int]:
        return await deliver_due(self.engine, self.settings)

    async def deliver_until(self, done: Any, timeout: float = 20) -> None:
        """Run passes (backoff is milliseconds here) until ``done()`` holds."""
        async with asyncio.timeout(timeout):
            while not await done():
                await self.deliver()
                await asyncio.sleep(0.03)


@pytest.fixture
async def lab(
    notify: httpx.AsyncClient,
    admin: Person,
    engine: AsyncEngine,
    notify_settings: Settings,
    receiver: Receiver,
    mailbox: Mailbox,
) -> Lab:
    return Lab(notify, admin, engine, notify_settings, receiver, mailbox)
