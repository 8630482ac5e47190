"""uvicorn's HTTP/1.1 protocol with a deadline on each request's head.

uvicorn closes a connection idle between requests (``timeout_keep_alive``) but waits
forever for the rest of a request line and headers once a first byte arrived: a client
sending one header a minute holds a connection, and a few hundred of them hold the
server. Here a connection has HEAD_SECONDS from opening (or from the previous response)
to deliver a complete request head. Bodies have their own limit (``kit.limits``).
"""

from __future__ import annotations

import asyncio

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

HEAD_SECONDS = 10.0


class GuardedH11Protocol(H11Protocol):
    _head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()

    def on_response_complete(self) -> None:
        self._await_head()  # before the next (maybe pipelined) request is handled
        super().on_response_complete()

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state is not h11.IDLE:
            self._stop_waiting()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)

    def _await_head(self) -> None:
        self._stop_waiting()
        self._head_deadline = self.loop.call_later(HEAD_SECONDS, self._head_too_slow)

    def _stop_waiting(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()
