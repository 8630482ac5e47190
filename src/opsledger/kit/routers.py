"""Routers for the API and the console, each made whole where it is declared, and the one
flat route table the application serves from.

FastAPI 0.137 and later keep an included router as a node of a route tree and walk that
tree on every request: each route of each router before the one asked for is tried, with
bookkeeping per try, and the walk is done twice (to match, then to dispatch; see
fastapi/fastapi#16159). With some 190 routes that was most of the CPU a cached read
spends outside its queries. So a router here carries its full prefix, the API's shared
error answers and the query check every route runs, and ``add_routes`` adds its routes to the
application's own table, where a request costs one ``Route.matches`` per earlier route.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable
from contextlib import AsyncExitStack
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.routing import APIRoute, _get_scope_effective_route_context
from starlette._utils import get_route_path
from starlette.routing import Match
from starlette.types import Scope

from opsledger.kit.errors import BadRequest, ContentTooLarge, RequestTimeout, problem_responses
from opsledger.kit.http import single_valued_query

API_PREFIX = "/api/v1"
EVERY_ROUTE = [Depends(single_valued_query)]


class Route(APIRoute):
    """A route of the flat table that turns away a request for another path by the text
    its path starts with, before FastAPI's bookkeeping and the path's regular expression
    (0.85 us a route, ~0.5 us this way: a console page or ``/healthz``, behind 130 to 280
    routes, saves ~0.05-0.1 ms of CPU a request). The path's regular expression starts
    with that text, so the answer is the one the expression gives (tests/test_routes.py).
    Reached through a router included with a prefix of its own, the route answers to its
    effective path, which FastAPI matches itself. As it makes its answer it closes what
    its dependencies opened for the request (``closing``)."""

    def __init__(self, path: str, endpoint: Any, **options: Any) -> None:
        super().__init__(path, endpoint, **options)
        self.literal_start = path.split("{", 1)[0]

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            async with AsyncExitStack() as closing:
                request.scope[_CLOSING] = closing
                try:
                    return await handler(request)
                finally:
                    del request.scope[_CLOSING]  # what asks later is refused

        return answer

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if (
            scope["type"] == "http"
            and _get_scope_effective_route_context(scope) is None
            and not get_route_path(scope).startswith(self.literal_start)
        ):
            return Match.NONE, {}
        return super().matches(scope)


_CLOSING = "opsledger.closing"


def closing(request: Request) -> AsyncExitStack:
    """What the route's dependencies opened for the request, closed as soon as its answer
    is made (or it failed), before the answer is sent: as a generator dependency's exit,
    without FastAPI's machinery for one (0.07-0.09 ms of CPU a read). Only a ``Route``
    closes them, and only while it makes the answer: asking on another route, or after
    (an error page, an exception handler), is a mistake, refused."""
    try:
        stack: AsyncExitStack = request.scope[_CLOSING]
    except KeyError:
        raise RuntimeError(
            f"{request.url.path}: closed only while a kit.routers.Route makes its answer"
        ) from None
    return stack


def api_router(prefix: str, tag: str) -> APIRouter:
    """A domain's operations under ``/api/v1{prefix}``. Any of them may meet a body it
    cannot parse, is too large or too slow (kit/limits.py), answered before the route runs;
    each route documents the rest itself."""
    return APIRouter(
        prefix=API_PREFIX + prefix,
        tags=[tag],
        responses=problem_responses(BadRequest, RequestTimeout, ContentTooLarge),
        dependencies=EVERY_ROUTE,
        route_class=Route,
    )


def add_routes(app: FastAPI, routers: Iterable[APIRouter]) -> None:
    """Add every router's routes to the application's own table, in order: the first that
    matches a request answers it."""
    for router in routers:
        app.router.routes.extend(router.routes)
