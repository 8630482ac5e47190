"""The application's unit of work and error shape, over real HTTP through the ASGI app."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.db.dependencies import WriteSession
from opsledger.kit.errors import Conflict
from opsledger.models import HostRole
from tests.api import build_app, client_for
from tests.factories import unique


@pytest.fixture
async def app(engine: AsyncEngine) -> AsyncIterator[FastAPI]:
    app = build_app(engine)

    @app.post("/test/roles/{name}")
    async def add_role(
        name: str, session: WriteSession, fail: bool = False, flush: bool = True
    ) -> dict[str, str]:
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


async def test_healthz_answers_when_the_database_does(client: httpx.AsyncClient) -> None:
    response = await client.get("http://opsledger.test/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


async def test_an_unknown_route_is_problem_json(client: httpx.AsyncClient) -> None:
    response = await client.get("nowhere")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
