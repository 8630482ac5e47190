"""uvicorn's HTTP/1.1 protocol (httptools) with a deadline and a size limit on each
request's head.

uvicorn closes a connection idle between requests (``timeout_keep_alive``) but waits
forever for the rest of a request line and headers once a first byte arrived: a client
sending one header a minute holds a connection, and a few hundred of them hold the
server. Here a connection has HEAD_SECONDS from opening (or from the previous response)
to deliver a complete request head, of at most HEAD_BYTES (httptools itself took a 20 MB
header; h11 stopped at 16 KiB): more is answered 431 and the connection closed. Bodies
have their own limits (``kit.limits``).

httptools rather than h11: the bare route's rate under wrk was 6,226 req/s against
4,495 with h11 on the same 2-core machine (bench/request_path.py's floor).
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEAD_SECONDS = 10.0
HEAD_BYTES = 64 * 1024
TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-length: 0\r\nconnection: close\r\n\r\n"
)


class HeadDeadlineProtocol(HttpToolsProtocol):
    _head_deadline: asyncio.TimerHandle | None = None
    _head_bytes = 0

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._head_deadline is None:
            return  # the head was complete: what followed it is a body
        # Still short of a complete head after parsing: every byte of this was head.
        self._head_bytes += len(data)
        if self._head_bytes > HEAD_BYTES and not self.transport.is_closing():
            self._stop_waiting()
            if not self._answering():
                self.transport.write(TOO_LARGE)
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()

    def on_headers_complete(self) -> None:
        self._stop_waiting()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        if not self.pipeline:  # a pipelined request's head has arrived already
            self._await_head()
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)

    def _await_head(self) -> None:
        self._stop_waiting()
        self._head_bytes = 0
        self._head_deadline = self.loop.call_later(HEAD_SECONDS, self._head_too_slow)

    def _stop_waiting(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _answering(self) -> bool:
        return bool(self.pipeline) or (self.cycle is not None and not self.cycle.response_complete)

    def _head_too_slow(self) -> None:
        if not self._answering() and not self.transport.is_closing():
            self.transport.close()
