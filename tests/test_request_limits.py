"""What a request may send is limited before anything parses it: its size (413), how
slowly it arrives (408) and how deeply its JSON nests (422); each refusal is
problem+json and changes nothing. Every response carries the security headers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.kit.limits import too_deep
from opsledger.kit.schemas import MAX_DEPTH
from opsledger.models import Host
from tests.api import Person, build_app, client_for

HOST = {"hostname": "limited.test", "ip_address": "192.0.2.9", "os_type": "debian"}


async def hosts(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(select(func.count()).select_from(Host))).scalar())


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    return body


async def test_a_body_over_the_limit_is_413_before_it_is_read(
    client: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    before = await hosts(engine)
    padding = "x" * (1024 * 1024)
    body = HOST | {"description": padding}
    declared = await client.post("/hosts", json=body, headers=operator.headers)

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it comes
        yield json.dumps(HOST)[:-1].encode() + b', "description": "'
        for _ in range(20):
            yield b"y" * 65536
        yield b'"}'

    streamed = await client.post(
        "/hosts",
        content=chunks(),
        headers=operator.headers | {"content-type": "application/json"},
    )

    assert "1048576 bytes" in problem(declared, 413)["detail"]
    problem(streamed, 413)
    assert await hosts(engine) == before


async def test_json_nested_beyond_the_limit_is_422_however_deep(
    client: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    before = await hosts(engine)
    for levels in (MAX_DEPTH + 1, 1000, 100_000):
        body = '{"tags": ' + "[" * levels + "]" * levels + "}"
        response = await client.post(
            "/hosts",
            content=body.encode(),
            headers=operator.headers | {"content-type": "application/json"},
        )
        assert "nest deeper than 32" in problem(response, 422)["detail"]
    assert await hosts(engine) == before


async def test_an_unterminated_string_costs_a_linear_scan(client: httpx.AsyncClient) -> None:
    """The review's request: 64 KB that froze the server for 17 s (the string rule
    restarted at every quote); a MiB of it would have taken an hour. No timing here:
    before the fix this test did not finish."""
    for body in ("[" * 40 + '"' + '\\"' * 32000, "[" * 40 + '"' + '\\"' * 400_000):
        response = await client.post(
            "/auth/login", content=body.encode(), headers={"content-type": "application/json"}
        )
        assert "nest deeper" in problem(response, 422)["detail"]


async def test_brackets_inside_strings_are_not_nesting(
    client: httpx.AsyncClient, operator: Person
) -> None:
    notes = '[{"deep": ' * 100 + '\\" ]]'
    response = await client.post(
        "/hosts", json=HOST | {"description": notes}, headers=operator.headers
    )
    assert response.status_code == 201, response.text
    assert response.json()["description"] == notes


async def test_a_body_that_trickles_is_408(engine: AsyncEngine, operator: Person) -> None:
    app = build_app(engine, body_timeout_seconds=0.2)
    stalled = asyncio.Event()
    before = await hosts(engine)

    async def slow() -> AsyncIterator[bytes]:
        yield b'{"hostname": '
        await stalled.wait()  # never set: the server gives up first
        yield b'"x.test"}'

    async def trickle() -> AsyncIterator[bytes]:  # each byte well within the limit
        for byte in json.dumps(HOST).encode():
            await asyncio.sleep(0.05)
            yield bytes([byte])

    async for client in client_for(app):
        response = await client.post(
            "/hosts",
            content=slow(),
            headers=operator.headers | {"content-type": "application/json"},
        )
        assert "too slowly" in problem(response, 408)["detail"]
        trickled = await client.post(
            "/hosts",
            content=trickle(),
            headers=operator.headers | {"content-type": "application/json"},
        )
        assert "too slowly" in problem(trickled, 408)["detail"]
    assert await hosts(engine) == before


def depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((depth(item) for item in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(item) for item in value), default=0)
    return 0


documents = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab'),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=60,
)


@given(documents, st.integers(min_value=0, max_value=8))
def test_the_depth_scan_agrees_with_the_document(document: Any, limit: int) -> None:
    assert too_deep(json.dumps(document).encode(), limit) == (depth(document) > limit)


async def test_every_response_carries_the_security_headers(
    client: httpx.AsyncClient, operator: Person
) -> None:
    api = await client.get("/users/me", headers=operator.headers)
    page = await client.get("http://opsledger.test/login")
    docs = await client.get("http://opsledger.test/docs")
    static = await client.get("http://opsledger.test/static/opsledger.css")

    for response in (api, page, docs, static):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        policy = response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy.split("style-src-attr")[0]
    for response in (api, page, docs):
        assert response.headers["cache-control"] == "no-store"
    assert static.headers.get("cache-control") != "no-store"
    assert "script-src 'self' 'sha256-" in docs.headers["content-security-policy"]
    assert "<script>" not in page.text


async def test_an_instant_is_an_iso_date_time_never_a_number(
    client: httpx.AsyncClient, admin: Person
) -> None:
    """Pydantic reads 0.5 or "1e9" as seconds since 1970; the schema promises ISO 8601."""
    for value in ("0.5", "1e9", "1700000000", " 12 "):
        response = await client.get("/jobs", params={"since": value}, headers=admin.headers)
        assert response.status_code == 422, value
    key = await client.post(
        "/api-keys", json={"name": "n", "expires_at": 4102444800}, headers=admin.headers
    )
    assert key.status_code == 422
    fine = await client.get(
        "/jobs", params={"since": "2026-01-02T03:04:05Z"}, headers=admin.headers
    )
    assert fine.status_code == 200
