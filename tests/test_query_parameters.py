"""A query parameter that takes one value, given twice, is refused with 422 naming it on
every route: the app would otherwise answer from the last value as if the first had not been
sent. List parameters keep taking every value. Over real HTTP through the ASGI app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest
from fastapi import FastAPI, Query
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.kit.errors import PROBLEM_JSON
from opsledger.kit.filtering import ListQuery
from tests.api import Person, build_app, client_for

# (route, a query parameter of its query model that takes one value)
ROUTES = [
    ("/applications", "name"),
    ("/host-roles", "name"),
    ("/infrastructure", "provider"),
    ("/hosts", "status"),
    ("/jobs", "host_id"),
    ("/audit", "limit"),
    ("/users", "after"),
]
VALUES = {"name": "a", "provider": "aws", "status": "deployed", "host_id": "1"}


def query(*pairs: tuple[str, str]) -> httpx.QueryParams:
    return httpx.QueryParams(list(pairs))


@pytest.mark.parametrize(("path", "key"), ROUTES)
async def test_a_single_valued_parameter_given_twice_is_refused_naming_it(
    client: httpx.AsyncClient, admin: Person, path: str, key: str
) -> None:
    value = VALUES.get(key, "5")
    once = await client.get(path, params=query((key, value)), headers=admin.headers)
    assert once.status_code == 200, once.text

    twice = await client.get(
        path, params=query((key, value), ("limit", "3"), (key, value)), headers=admin.headers
    )

    assert twice.status_code == 422, twice.text
    assert twice.headers["content-type"] == PROBLEM_JSON
    problem = twice.json()
    assert problem["status"] == 422
    assert problem["detail"] == "the request is not valid"
    assert problem["errors"] == [
        {
            "loc": ["query", key],
            "msg": "given more than once; this parameter takes one value",
            "type": "repeated_value",
        }
    ]


async def test_each_repeated_parameter_is_named(client: httpx.AsyncClient, admin: Person) -> None:
    response = await client.get(
        "/applications",
        params=query(("name", "a"), ("limit", "2"), ("name", "b"), ("limit", "3")),
        headers=admin.headers,
    )

    assert response.status_code == 422
    assert sorted(error["loc"][1] for error in response.json()["errors"]) == ["limit", "name"]


class TaggedQuery(ListQuery):
    tags: list[str] = Field(default_factory=list)


@pytest.fixture
async def tagged(engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    """The app with one more route whose query model has a list parameter."""
    app: FastAPI = build_app(engine)

    @app.get("/api/v1/test/tagged")
    async def list_tagged(query: Annotated[TaggedQuery, Query()]) -> dict[str, object]:
        return {"tags": query.tags, "limit": query.limit}

    async for client in client_for(app):
        yield client


async def test_a_list_parameter_takes_every_value_given(tagged: httpx.AsyncClient) -> None:
    response = await tagged.get("/test/tagged", params=query(("tags", "a"), ("tags", "b")))

    assert response.status_code == 200, response.text
    assert response.json() == {"tags": ["a", "b"], "limit": 50}

    refused = await tagged.get(
        "/test/tagged", params=query(("tags", "a"), ("limit", "1"), ("limit", "2"))
    )
    assert refused.status_code == 422
    assert [error["loc"] for error in refused.json()["errors"]] == [["query", "limit"]]
