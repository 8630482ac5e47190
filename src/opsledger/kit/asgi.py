"""One shape for the middlewares that look at each HTTP response as it starts (request
ids, security headers, metrics): pure ASGI, no request body buffering, everything that
is not HTTP passed through untouched."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class ResponseStartMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def begin(self, scope: Scope) -> Any:
        """Called before the application; what it returns is handed to ``started``."""
        return None

    def started(self, scope: Scope, begun: Any, status: int, headers: MutableHeaders) -> None:
        """Called as the response starts, before it is sent; ``headers`` may be changed."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        begun = self.begin(scope)

        async def send_started(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.started(scope, begun, message["status"], MutableHeaders(scope=message))
            await send(message)

        await self.app(scope, receive, send_started)
