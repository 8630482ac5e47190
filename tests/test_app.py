"""The application's unit of work and error shape, over real HTTP through the ASGI app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.db.dependencies import Database, ReadSession, WriteSession
from opsledger.db.session import undo_unless_committed
from opsledger.kit.errors import Conflict
from opsledger.kit.routers import Route, closing
from opsledger.models import HostRole
from tests.api import Person, build_app, client_for, openapi_document
from tests.factories import unique


@pytest.fixture
async def app(engine: AsyncEngine) -> AsyncIterator[FastAPI]:
    app = build_app(engine)
    app.state.undone = []

    @app.post("/test/roles/{name}")
    async def add_role(
        name: str, session: WriteSession, fail: bool = False, flush: bool = True
    ) -> dict[str, str]:
        undo_unless_committed(session, lambda: app.state.undone.append(name))
        session.add(HostRole(name=name))
        if flush:
            await session.flush()
        if fail:
            raise Conflict("the change after the write failed")
        return {"name": name}

    yield app
    async with engine.begin() as connection:
        await connection.execute(delete(HostRole).where(HostRole.name.like("unit-%")))


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async for client in client_for(app):
        yield client


async def role_exists(engine: AsyncEngine, name: str) -> bool:
    async with engine.connect() as connection:
        found = await connection.scalar(select(HostRole.id).where(HostRole.name == name))
    return found is not None


async def test_a_request_commits_its_unit_of_work_before_answering(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    name = unique("unit")
    response = await client.post(f"http://opsledger.test/test/roles/{name}")
    assert response.status_code == 200
    assert await role_exists(engine, name)


async def test_a_request_that_fails_changes_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    name = unique("unit")
    response = await client.post(
        f"http://opsledger.test/test/roles/{name}", params={"fail": "true"}
    )

    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "about:blank",
        "title": "Conflict",
        "status": 409,
        "detail": "the change after the write failed",
    }
    assert not await role_exists(engine, name)


async def test_a_commit_that_fails_is_an_error_response_not_a_success(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    name = unique("unit")
    assert (await client.post(f"http://opsledger.test/test/roles/{name}")).status_code == 200

    duplicate = await client.post(
        f"http://opsledger.test/test/roles/{name}", params={"flush": "false"}
    )

    assert duplicate.status_code == 409
    assert duplicate.headers["content-type"] == "application/problem+json"
    assert name not in duplicate.text


async def test_work_outside_the_database_is_undone_unless_its_request_commits(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    kept, failed = unique("unit"), unique("unit")

    committed = await client.post(f"http://opsledger.test/test/roles/{kept}")
    raised = await client.post(
        f"http://opsledger.test/test/roles/{failed}", params={"fail": "true"}
    )
    commit_failed = await client.post(
        f"http://opsledger.test/test/roles/{kept}", params={"flush": "false"}
    )

    assert (committed.status_code, raised.status_code, commit_failed.status_code) == (200, 409, 409)
    assert app.state.undone == [failed, kept]


async def test_healthz_answers_when_the_database_does(client: httpx.AsyncClient) -> None:
    response = await client.get("http://opsledger.test/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


async def test_an_unknown_route_is_problem_json(client: httpx.AsyncClient) -> None:
    response = await client.get("nowhere")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def request_names(openapi: dict[str, Any], method: str, path: str) -> set[str]:
    """Every parameter and property name an operation's request defines, nested ones too."""
    operation = openapi["paths"][path][method]
    names = {parameter["name"] for parameter in operation.get("parameters", [])}
    pending: list[Any] = [operation.get("requestBody")]
    seen: set[str] = set()
    while pending:
        item = pending.pop()
        if isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str) and ref not in seen:
                seen.add(ref)
                pending.append(openapi["components"]["schemas"][ref.rsplit("/", 1)[1]])
            names |= set(item.get("properties", {}))
            pending.extend(item.values())
    return names


HOST = {"hostname": "loc.example.com", "ip_address": "192.0.2.9", "os_type": "debian"}
# (method, documented path, path sent, request, where the bad values are)
BAD_VALUES: dict[str, tuple[str, str, str, dict[str, Any], set[tuple[object, ...]]]] = {
    "a host's address": (
        "post",
        "/hosts",
        "/hosts",
        {"json": HOST | {"ip_address": "999.0.0.1"}},
        {("body", "ip_address")},
    ),
    "an address in a host update": (
        "patch",
        "/hosts/{host_id}",
        "/hosts/1",
        {"json": {"ip_address": "2001:db8::g", "ssh_port": 0}},
        {("body", "ip_address"), ("body", "ssh_port")},
    ),
    "an address filter and an id": (
        "get",
        "/hosts",
        "/hosts",
        {"params": {"ip_address": "not-an-address", "after": "x"}},
        {("query", "ip_address"), ("query", "after")},
    ),
    "a path id": ("get", "/hosts/{host_id}", "/hosts/first", {}, {("path", "host_id")}),
    "a nested object's values": (
        "post",
        "/deployments",
        "/deployments",
        {"json": {"name": "web", "image": "nginx", "resources": {"cpu_cores": "lots"}}},
        {
            ("body", "resources", "cpu_cores"),
            ("body", "resources", "memory_mb"),
            ("body", "resources", "storage_gb"),
        },
    ),
    "a value in a list of objects": (
        "post",
        "/alerts/alertmanager",
        "/alerts/alertmanager",
        {"json": {"alerts": [{"status": "firing"}, {"status": "gone", "startsAt": "today"}]}},
        {("body", "alerts", 1, "status"), ("body", "alerts", 1, "startsAt")},
    ),
    "an entry of a list": (
        "post",
        "/playbooks",
        "/playbooks",
        {"json": {"name": "loc", "content": "- hosts: all", "tags": ["web", "x" * 51]}},
        {("body", "tags", 1)},
    ),
}


@pytest.mark.parametrize("case", BAD_VALUES)
async def test_a_422_names_each_bad_value_by_its_wire_name_only(
    app: FastAPI, client: httpx.AsyncClient, admin: Person, case: str
) -> None:
    method, documented, sent, request, expected = BAD_VALUES[case]

    response = await client.request(method, sent, headers=admin.headers, **request)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    places = [error["loc"] for error in response.json()["errors"]]
    names = request_names(openapi_document(), method, f"/api/v1{documented}")
    for section, *path in places:
        assert section in ("body", "query", "path")
        assert all(isinstance(part, int) or part in names for part in path), places
    assert {tuple(place) for place in places} == expected


async def test_a_read_gives_its_connection_back_before_its_answer_starts(
    engine: AsyncEngine, viewer: Person
) -> None:
    """Read sessions are closed by the route as its answer is made (kit.routers.closing),
    whatever the answer: found, listed, missing, refused before or after the credentials
    are read, or a write refused beside the read of its credentials."""
    app = build_app(engine)
    pool = engine.sync_engine.pool
    held: list[int] = []

    async def watched(scope: dict[str, Any], receive: Any, send: Any) -> None:
        async def watching(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                held.append(pool.checkedout())  # type: ignore[attr-defined]
            await send(message)

        await app(scope, receive, watching)

    transport = httpx.ASGITransport(app=watched)
    asked = [
        ("GET", "/api/v1/users/me", viewer.headers, None, 200),
        ("GET", "/api/v1/hosts", viewer.headers, None, 200),
        ("GET", "/api/v1/hosts/2147483647", viewer.headers, None, 404),
        ("GET", "/api/v1/hosts?limit=0", viewer.headers, None, 422),
        ("GET", "/api/v1/hosts", {"X-API-Key": "olk_nothing"}, None, 401),
        ("POST", "/api/v1/hosts", viewer.headers, {}, 403),
        ("GET", "/healthz", {}, None, 200),
    ]
    async with httpx.AsyncClient(transport=transport, base_url="http://opsledger.test") as client:
        answers = [
            (await client.request(method, path, headers=headers, json=body)).status_code
            for method, path, headers, body, _ in asked
        ]
    assert answers == [status for *_, status in asked]
    assert held == [0] * len(asked)


def _reading_app(engine: AsyncEngine, route_class: type[APIRoute]) -> FastAPI:
    app = FastAPI()
    app.state.database = Database(engine)
    app.router.route_class = route_class
    return app


async def test_a_read_session_on_a_route_that_would_not_close_it_is_refused(
    engine: AsyncEngine,
) -> None:
    app = _reading_app(engine, APIRoute)

    @app.get("/elsewhere")
    async def elsewhere(session: ReadSession) -> dict[str, bool]:
        return {"read": session is not None}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://opsledger.test") as client:
        with pytest.raises(RuntimeError, match=r"only while a kit\.routers\.Route makes"):
            await client.get("/elsewhere")


async def test_a_read_session_asked_for_once_the_answer_is_made_is_refused(
    engine: AsyncEngine,
) -> None:
    """An exception handler (or an error page) runs after the route closed what it
    opened: a session opened there would never be closed."""
    app = _reading_app(engine, Route)
    refused: list[str] = []

    @app.exception_handler(Conflict)
    async def answer_conflict(request: Request, _exc: Exception) -> JSONResponse:
        try:
            closing(request)
        except RuntimeError as exc:
            refused.append(str(exc))
        return JSONResponse({"late": True}, status_code=409)

    @app.get("/late")
    async def late(session: ReadSession) -> dict[str, bool]:
        await session.execute(select(1))
        raise Conflict("answered by the handler")

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://opsledger.test") as client:
        answer = await client.get("/late")
    assert answer.status_code == 409
    assert refused == ["/late: closed only while a kit.routers.Route makes its answer"]
    assert engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]
