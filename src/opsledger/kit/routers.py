"""Routers for the API and the console, each made whole where it is declared, and the one
flat route table the application serves from.

FastAPI 0.137 and later keep an included router as a node of a route tree and walk that
tree on every request: each route of each router before the one asked for is tried, with
bookkeeping per try, and the walk is done twice (to match, then to dispatch; see
fastapi/fastapi#16159). With some 190 routes that was most of the CPU a cached read
spends outside its queries. So a router here carries its full prefix, the API's shared
error answers and the query check every route runs, and ``add_routes`` adds its routes to the
application's own table, where a request costs one regular expression per earlier route.
"""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import APIRouter, Depends, FastAPI

from opsledger.kit.errors import BadRequest, ContentTooLarge, RequestTimeout, problem_responses
from opsledger.kit.http import single_valued_query

API_PREFIX = "/api/v1"
EVERY_ROUTE = [Depends(single_valued_query)]


def api_router(prefix: str, tag: str) -> APIRouter:
    """A domain's operations under ``/api/v1{prefix}``. Any of them may meet a body it
    cannot parse, is too large or too slow (kit/limits.py), answered before the route runs;
    each route documents the rest itself."""
    return APIRouter(
        prefix=API_PREFIX + prefix,
        tags=[tag],
        responses=problem_responses(BadRequest, RequestTimeout, ContentTooLarge),
        dependencies=EVERY_ROUTE,
    )


def add_routes(app: FastAPI, routers: Iterable[APIRouter]) -> None:
    """Add every router's routes to the application's own table, in order: the first that
    matches a request answers it."""
    for router in routers:
        app.router.routes.extend(router.routes)
