"""The application's route table: a route that turns a request away by the start of its
path (kit.routers.Route) answers as its path's regular expression would."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI
from starlette.routing import Match
from starlette.routing import Route as StarletteRoute

from opsledger.app import create_app
from opsledger.config import Settings
from opsledger.kit.routers import Route, api_router


def test_every_route_of_the_table_turns_a_request_away_only_when_its_expression_would() -> None:
    routes = create_app(Settings(database_url="sqlite+aiosqlite://")).router.routes
    ours = [route for route in routes if isinstance(route, Route)]
    assert len(ours) > 250, "the API, the console and the probes are all served by Route"
    # Each route's own path with its parameters filled, a neighbour's and a near miss of
    # each: under no root path and under one (a proxy mounting the app at /ops).
    paths = {re.sub(r"\{[^}]*\}", "7", route.path) for route in ours}
    paths |= {path + suffix for path in list(paths) for suffix in ("/", "x", "/7")}
    paths |= {"", "/", "/api", "/api/v1/"}
    for root in ("", "/ops"):
        for path in sorted(paths):
            scope = {"type": "http", "path": root + path, "root_path": root, "method": "GET"}
            for route in ours:
                quick, _ = route.matches(dict(scope))
                slow, _ = StarletteRoute.matches(route, dict(scope))
                assert quick == slow, (route.path, root, path)


@pytest.mark.parametrize("path", ["/healthz", "/api/v1/hosts", "/hosts/new"])
def test_a_request_for_a_route_of_the_table_still_reaches_it(path: str) -> None:
    route = next(
        route
        for route in create_app(Settings(database_url="sqlite+aiosqlite://")).router.routes
        if getattr(route, "path", None) == path
    )
    match, child = route.matches({"type": "http", "path": path, "method": "GET"})
    assert match is Match.FULL
    assert child["route"] is route


async def test_a_router_included_with_a_prefix_of_its_own_answers_at_its_effective_path() -> None:
    router = api_router("/things", "things")

    @router.get("/{thing_id}")
    async def read_thing(thing_id: int) -> dict[str, int]:
        return {"id": thing_id}

    app = FastAPI()
    app.include_router(router, prefix="/mounted")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://opsledger.test") as client:
        found = await client.get("/mounted/api/v1/things/3")
        missing = await client.get("/api/v1/things/3")
    assert (found.status_code, found.json()) == (200, {"id": 3})
    assert missing.status_code == 404
