"""Headers every response carries: no sniffing, no framing, no referrer, a content
security policy that allows no inline script, and no caching of anything with data."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import Scope

from opsledger.kit.asgi import ResponseStartMiddleware

# The console's own files only; style attributes (the overview's bars) but no inline
# <style> or script; forms post to the console itself; no plugins, frames or base.
POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}
# Static files (stylesheet, script, the API docs' assets) may be cached; nothing else.
CACHEABLE = ("/static/", "/docs/assets/")


_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)


def allowing_inline_scripts(page: bytes) -> str:
    """The policy for a page we did not write (the API docs) whose inline scripts are
    known: each allowed by its hash, nothing else inline."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(script).digest()).decode()}'"
        for script in _INLINE_SCRIPT.findall(page)
    )
    return POLICY.replace("script-src 'self'", f"script-src 'self' {hashes}")


class SecurityHeadersMiddleware(ResponseStartMiddleware):
    def started(self, scope: Scope, begun: Any, status: int, headers: MutableHeaders) -> None:
        for name, value in HEADERS.items():
            headers[name] = value
        # A page with a policy of its own (the API docs) keeps it.
        headers.setdefault("Content-Security-Policy", POLICY)
        if not scope["path"].startswith(CACHEABLE):
            headers["Cache-Control"] = "no-store"
