"""Request ids: taken from ``X-Request-ID`` when it is sane, generated otherwise, and
echoed on every response so a client can quote it and an operator can find the audit row."""

from __future__ import annotations

import re
import uuid
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import Scope

from opsledger.kit.asgi import ResponseStartMiddleware

HEADER = "X-Request-ID"
_SANE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class RequestIdMiddleware(ResponseStartMiddleware):
    def begin(self, scope: Scope) -> str:
        supplied = dict(scope["headers"]).get(HEADER.lower().encode(), b"").decode("latin-1")
        request_id = supplied if _SANE.match(supplied) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        return request_id

    def started(self, scope: Scope, begun: Any, status: int, headers: MutableHeaders) -> None:
        headers[HEADER] = begun
