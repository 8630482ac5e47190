"""The policy matrix: every route, every role. Generated from the app's route table, so
a new route without a declared requirement fails here."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from opsledger.kit.routers import API_PREFIX
from opsledger.security.auth import Require
from opsledger.security.policy import POLICY
from opsledger.users.models import UserRole
from tests.api import Person, api_routes, bearer

# Routes anyone may call, on purpose.
# A trigger's hook is called by other systems with no user: its body's HMAC signature
# under the trigger's own secret is its credential (tests/triggers).
PUBLIC = {("POST", f"{API_PREFIX}/auth/login"), ("POST", f"{API_PREFIX}/hooks/{{trigger_id}}")}
ROLES = ["anonymous", *UserRole]


def requirement(route: Any) -> Require | None:
    pending = list(route.dependant.dependencies)
    while pending:
        dependency = pending.pop()
        if isinstance(dependency.call, Require):
            return dependency.call
        pending.extend(dependency.dependencies)
    return None


def test_every_route_declares_what_it_needs(app: FastAPI) -> None:
    undeclared = [
        f"{method} {path}"
        for method, path, route in api_routes(app)
        if (method, path) not in PUBLIC and requirement(route) is None
    ]
    assert undeclared == []


def expected_status(role: str, action: str) -> str:
    if role == "anonymous":
        return "401"
    return "allowed" if action in POLICY[UserRole(role)] else "403"


async def test_each_role_gets_what_the_policy_says_on_every_route(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: Person,
    operator: Person,
    viewer: Person,
) -> None:
    people: dict[str, dict[str, str]] = {
        "anonymous": {},
        "admin": admin.headers,
        "operator": operator.headers,
        "viewer": viewer.headers,
    }
    mismatches = []
    checked = 0
    # logout ends the token it is called with (each call gets a fresh one); logout-all
    # ends every token of the caller, so it goes last.
    ending = (f"{API_PREFIX}/auth/logout", f"{API_PREFIX}/auth/logout-all")
    routes = sorted(
        api_routes(app), key=lambda item: ending.index(item[1]) + 1 if item[1] in ending else 0
    )
    ids = {"admin": admin.id, "operator": operator.id, "viewer": viewer.id}
    for method, path, route in routes:
        needed = requirement(route)
        if needed is None:
            continue
        url = re.sub(r"\{[^}]+\}", "999999", path.removeprefix(API_PREFIX))
        for role in ROLES:
            headers = people[str(role)]
            if path.endswith("/auth/logout") and str(role) in ids:
                headers = bearer(ids[str(role)])
            kwargs: dict[str, Any] = {"headers": headers}
            if method in {"POST", "PUT", "PATCH"}:
                kwargs["json"] = {}
            response = await client.request(method, url, **kwargs)
            got = str(response.status_code)
            want = expected_status(str(role), needed.action)
            checked += 1
            if (want == "allowed" and got in {"401", "403"}) or (want != "allowed" and got != want):
                mismatches.append(f"{role:9} {method:6} {path}: want {want}, got {got}")
            assert got != "500", f"{role} {method} {path} crashed"
    assert mismatches == []
    assert checked >= 4 * 15


@pytest.mark.parametrize("role", list(UserRole))
def test_each_role_allows_what_the_one_below_it_does(role: UserRole) -> None:
    ladder = [UserRole.viewer, UserRole.operator, UserRole.admin]
    below = ladder[: ladder.index(role)]
    for lower in below:
        assert POLICY[lower] <= POLICY[role]
