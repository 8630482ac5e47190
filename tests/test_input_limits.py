"""JSON a backend cannot store, or that costs too much to walk, is refused with 422 and
changes nothing: NaN and Infinity (a stored one broke every later tag filter and the
backup's restore into PostgreSQL), and documents nested deeper than 32 levels."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.api import Person
from tests.factories import unique


def nested(levels: int) -> dict[str, Any]:
    """A document ``levels`` objects deep, innermost first."""
    document: dict[str, Any] = {"leaf": 1}
    for _ in range(levels - 1):
        document = {"next": document}
    return document


def host(name: str, **fields: Any) -> dict[str, Any]:
    return {"hostname": f"{name}.test", "ip_address": "192.0.2.7", "os_type": "debian", **fields}


# (collection, a body with ``value`` placed where a client's document goes)
PLACES = {
    "host tags": ("/hosts", lambda name, value: host(name, tags={"rack": value})),
    "host role variables": (
        "/host-roles",
        lambda name, value: {"name": name, "variables": {"x": value}},
    ),
    "application config": (
        "/applications",
        lambda name, value: {"name": name, "config": {"x": value}},
    ),
    "infrastructure config": (
        "/infrastructure",
        lambda name, value: {"name": name, "provider": "aws", "config": {"x": value}},
    ),
}
BAD = {"NaN": "NaN", "Infinity": "Infinity", "-Infinity": "-Infinity", "40 levels": None}


async def post_raw(
    client: httpx.AsyncClient, path: str, body: str, person: Person
) -> httpx.Response:
    headers = person.headers | {"content-type": "application/json"}
    return await client.post(path, content=body.encode(), headers=headers)


@pytest.mark.parametrize("place", PLACES)
@pytest.mark.parametrize("bad", BAD)
async def test_unstorable_json_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, admin: Person, place: str, bad: str
) -> None:
    path, build = PLACES[place]
    name = unique("limits").replace("-", "")
    marker = "__VALUE__"
    if BAD[bad] is None:
        # Tags hold flat values only: a nested document there is refused anyway.
        body = json.dumps(build(name, nested(40)))
    else:
        body = json.dumps(build(name, marker)).replace(f'"{marker}"', BAD[bad])

    response = await post_raw(client, path, body, admin)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    find = {"hostname": f"{name}.test"} if path == "/hosts" else {"name": name}
    listed = await client.get(path, headers=admin.headers, params=find)
    assert listed.status_code == 200
    assert listed.json()["items"] == []


async def test_a_document_within_the_depth_limit_is_kept(
    client: httpx.AsyncClient, admin: Person
) -> None:
    name = unique("deep")
    # The body, "variables" and "x" take three levels: 29 more reach the limit of 32.
    response = await client.post(
        "/host-roles", json={"name": name, "variables": {"x": nested(29)}}, headers=admin.headers
    )
    assert response.status_code == 201, response.text
    assert response.json()["variables"] == {"x": nested(29)}


async def test_a_launch_with_nan_in_its_variables_is_refused(
    client: httpx.AsyncClient, operator: Person
) -> None:
    body = '{"playbook_id": 1, "host_id": 1, "extra_vars": {"x": NaN}}'
    response = await post_raw(client, "/jobs", body, operator)
    assert response.status_code == 422, response.text
    assert "finite" in response.text


# Instants whose UTC date falls outside the years 1 to 9999 (they answered 500).
EDGES = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:00:00-05:00"]


@pytest.mark.parametrize("edge", EDGES)
async def test_an_instant_past_the_calendar_in_utc_is_refused(
    client: httpx.AsyncClient, admin: Person, edge: str
) -> None:
    alertmanager = {"alerts": [{"status": "firing", "startsAt": edge, "fingerprint": unique("e")}]}
    answers = {
        "alert": await client.post(
            "/alerts/alertmanager", json=alertmanager, headers=admin.headers
        ),
        "key": await client.post(
            "/api-keys", json={"name": unique("edge"), "expires_at": edge}, headers=admin.headers
        ),
        "window": await client.post(
            "/freeze-windows",
            json={"name": unique("edge"), "starts_at": edge, "ends_at": edge},
            headers=admin.headers,
        ),
        "audit since": await client.get("/audit", params={"since": edge}, headers=admin.headers),
        "jobs until": await client.get("/jobs", params={"until": edge}, headers=admin.headers),
    }
    assert {what: r.status_code for what, r in answers.items()} == dict.fromkeys(answers, 422)
    assert all("years 1 to 9999" in r.text for r in answers.values())
