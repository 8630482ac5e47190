"""Limits on what a request may send, applied before anything parses it: the body's size,
how long its bytes may trickle, and how deeply its JSON nests.

The body is read here whole (it is at most ``max_body_bytes``) and handed on unchanged.
JSON nesting is measured on the raw bytes with a few passes of C-speed regular
expressions, never by parsing: a document 100,000 levels deep costs as little to refuse
as a flat one, and the parser never sees it.
"""

from __future__ import annotations

import asyncio
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from opsledger.kit.http import problem_response
from opsledger.kit.schemas import MAX_DEPTH

# Playbook uploads carry up to MAX_PLAYBOOK_BYTES of YAML, JSON-escaped: their own limit.
LARGER_BODIES = {"/api/v1/playbooks": 4 * 1024 * 1024, "/playbooks": 4 * 1024 * 1024}

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_INNERMOST = re.compile(rb"\[\]|\{\}")


def too_deep(body: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether JSON ``body`` nests deeper than ``limit``: strings removed, brackets kept,
    each pass removes the innermost pairs; what remains after ``limit`` passes is deeper
    (or not JSON at all, which the parser would refuse anyway)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKET)
    for _ in range(limit):
        if not brackets:
            return False
        brackets = _INNERMOST.sub(b"", brackets)
    return bool(brackets)


class RequestLimits:
    """Refuse, with problem+json and before the application sees the request, a body
    over ``max_bytes`` (413), one whose next bytes take longer than ``chunk_seconds``
    (408), and JSON nested deeper than MAX_DEPTH (422)."""

    def __init__(self, app: ASGIApp, max_bytes: int, chunk_seconds: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.chunk_seconds = chunk_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        limit = max(self.max_bytes, LARGER_BODIES.get(scope["path"], 0))
        too_large = f"the request body may not exceed {limit} bytes"
        declared = headers.get(b"content-length", b"").decode("latin-1")
        if declared.isdigit() and int(declared) > limit:
            await _refuse(scope, receive, send, 413, too_large)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            try:
                message = await asyncio.wait_for(receive(), self.chunk_seconds)
            except TimeoutError:
                await _refuse(scope, receive, send, 408, "the request body arrived too slowly")
                return
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _refuse(scope, receive, send, 413, too_large)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        kind = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if (kind == b"application/json" or kind.endswith(b"+json")) and too_deep(body):
            await _refuse(
                scope, receive, send, 422, f"JSON may not nest deeper than {MAX_DEPTH} levels"
            )
            return
        await self.app(scope, _replay(body, receive), send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body once, as one message; then the real channel (for the disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, detail: str) -> None:
    response = problem_response(status, detail, headers={"Connection": "close"})
    await response(scope, receive, send)
