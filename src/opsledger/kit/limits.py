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

from opsledger.kit.errors import ContentTooLarge, RequestTimeout
from opsledger.kit.http import problem_response
from opsledger.kit.schemas import MAX_DEPTH

# Playbooks carry up to MAX_PLAYBOOK_BYTES of YAML, JSON-escaped (the API), form-encoded
# or uploaded (the console): their own limit.
LARGER_BODIES = {"/api/v1/playbooks": 4 * 1024 * 1024, "/playbooks": 4 * 1024 * 1024}

# A string, or an unterminated one running to the end: every attempt that starts at a quote
# matches (possessively, without backtracking), so stripping is linear in the body even
# when it is not JSON ('[' * 40 + '"' + '\\"' * 32000 took 17 s with a plain string rule).
_STRING = re.compile(rb'"(?:[^"\\]++|\\(?:.|\Z))*+(?:"|\Z)', re.DOTALL)
_BRACKETS_ONLY = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
GROUP_DEPTH = 8  # one pass removes every complete group up to this deep


def _group(depth: int) -> bytes:
    """A regular expression for a balanced group at most ``depth`` deep (bounded depth
    is regular), possessive so that it never backtracks."""
    inner = b"" if depth == 1 else b"(?:" + _group(depth - 1) + b")*+"
    return rb"\[" + inner + rb"\]"


_GROUPS = {depth: re.compile(_group(depth)) for depth in range(1, GROUP_DEPTH + 1)}


def too_deep(body: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether JSON ``body`` nests deeper than ``limit``: strings removed, brackets kept,
    then each pass removes every complete group up to GROUP_DEPTH deep (the last pass
    only what is left of the limit); what remains was deeper (or is not JSON at all, which
    the parser would refuse anyway). Linear: a few passes of C regular expressions."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    brackets = _STRING.sub(b"", body).translate(_BRACKETS_ONLY, _NOT_BRACKET)
    if b"[" * (limit + 1) in brackets:
        return True  # the common deep document: a run of openers, found at C speed
    left = limit
    while brackets and left > 0:
        depth = min(left, GROUP_DEPTH)
        brackets = _GROUPS[depth].sub(b"", brackets)
        left -= depth
    return bool(brackets)


class RequestLimits:
    """Refuse, with problem+json and before the application sees the request, a body
    over ``max_bytes`` (413), one that takes longer than ``body_seconds`` to arrive
    (408), and JSON nested deeper than MAX_DEPTH (422)."""

    def __init__(self, app: ASGIApp, max_bytes: int, body_seconds: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.body_seconds = body_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        limit = max(self.max_bytes, LARGER_BODIES.get(scope["path"], 0))
        too_large = f"the request body may not exceed {limit} bytes"
        declared = headers.get(b"content-length", b"").decode("latin-1")
        if declared.isdigit() and int(declared) > limit:
            await _refuse(scope, receive, send, ContentTooLarge.status, too_large)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        try:
            # The whole body within body_seconds: a byte every few seconds would stay
            # under any per-chunk wait and hold the connection for ever (review finding 10).
            async with asyncio.timeout(self.body_seconds):
                while more:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > limit:
                        await _refuse(scope, receive, send, ContentTooLarge.status, too_large)
                        return
                    chunks.append(chunk)
                    more = message.get("more_body", False)
        except TimeoutError:
            slow = "the request body arrived too slowly"
            await _refuse(scope, receive, send, RequestTimeout.status, slow)
            return
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
