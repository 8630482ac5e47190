"""Every console form refuses a post without its session's form token, and every form a
viewer has no business with refuses a viewer's post that carries one: a forged post
answers 403 and changes nothing (no audit row is written for it). The forms are read
from the app's routes, so a new one is tried too (one whose path names a new kind of id
fails until ``estate`` makes one)."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.kit.routers import API_PREFIX
from opsledger.web.job_templates import LAUNCH_FIELDS
from tests.api import Person, audit_trail
from tests.web.estate import console_forms, estate, url
from tests.web.pages import form_token, sign_in

# What a viewer may post: signing in and out, their own password and API keys (a viewer
# keeps no secrets).
A_VIEWERS_OWN = {
    "/login",
    "/logout",
    "/account/password",
    "/account/logout-all",
    "/account/api-keys",
    "/account/api-keys/{key_id}/revoke",
}


async def test_every_form_refuses_a_forged_post_and_changes_nothing(
    app: FastAPI, browser: httpx.AsyncClient, admin: Person, viewer: Person, engine: AsyncEngine
) -> None:
    ids = await estate(engine, viewer)
    forms = sorted(console_forms(app))

    await sign_in(browser, admin)
    untokened = {path: await browser.post(url(path, ids), data={}) for path in forms}
    await sign_in(browser, viewer)
    token = form_token((await browser.get("/account")).text)
    as_viewer = {
        path: await browser.post(url(path, ids), data={"csrf_token": token})
        for path in forms
        if path not in A_VIEWERS_OWN
    }

    for refused in (untokened, as_viewer):
        assert {path: r.status_code for path, r in refused.items() if r.status_code != 403} == {}
        for response in refused.values():
            assert await audit_trail(engine, response) == []


# Not pages: documents, probes and the live event streams.
NOT_PAGES = {"/openapi.json", "/healthz", "/readyz", "/metrics", "/docs", "/jobs/{job_id}/events"}
FORM = re.compile(r"<form\b[^>]*>|\bformaction=\"[^\"]*\"", re.IGNORECASE)
ATTRIBUTE = re.compile(r"\b(method|action|formaction)=\"([^\"]*)\"", re.IGNORECASE)


def posts_offered(page: str) -> set[str]:
    """Where the page's forms (and buttons with their own formaction) post to."""
    offered = set()
    for tag in FORM.findall(page):
        attributes = {name.lower(): value for name, value in ATTRIBUTE.findall(tag)}
        if attributes.get("method", "post" if "formaction" in attributes else "get") == "post":
            target = attributes.get("formaction") or attributes.get("action") or ""
            offered.add(target.split("#")[0].split("?")[0])
    return offered


async def test_a_viewer_is_offered_no_form_it_would_be_refused(
    app: FastAPI, browser: httpx.AsyncClient, viewer: Person, engine: AsyncEngine
) -> None:
    ids = await estate(engine, viewer)
    forms = console_forms(app)
    pages = sorted(
        route.path
        for route in app.router.routes
        if "GET" in (getattr(route, "methods", None) or ())
        and not getattr(route, "path", "").startswith(API_PREFIX)
        and route.path not in NOT_PAGES
    )
    matchers = {path: re.compile(re.sub(r"\{[^}]+\}", "[^/]+", path)) for path in forms}

    await sign_in(browser, viewer)
    offered: dict[str, set[str]] = {}
    shown = {}
    for path in pages:
        response = await browser.get(url(path, ids))
        shown[path] = response.status_code
        for target in posts_offered(response.text):
            routes = {form for form, matcher in matchers.items() if matcher.fullmatch(target)}
            if not routes & A_VIEWERS_OWN:
                offered.setdefault(path, set()).add(target)

    assert {path: status for path, status in shown.items() if status not in (200, 403)} == {}
    assert shown["/account"] == 200
    assert offered == {}


def declared_fields(app: FastAPI, path: str) -> set[str]:
    """The fields FastAPI reads for a console form before the page's code runs (a form
    model's fields, or plain form parameters)."""
    names: set[str] = set()
    for route in app.router.routes:
        if isinstance(route, APIRoute) and route.path == path and "POST" in route.methods:
            for param in route.dependant.body_params:
                kind = param.field_info.annotation
                if isinstance(kind, type) and issubclass(kind, BaseModel):
                    names |= {field.alias or name for name, field in kind.model_fields.items()}
                else:
                    names.add(param.alias)
    return names - {"csrf_token"}


@pytest.mark.backends("sqlite")  # refused before any query: the backend plays no part
async def test_a_field_past_its_bound_is_refused_as_a_page_and_the_token_comes_first(
    app: FastAPI, browser: httpx.AsyncClient, admin: Person, engine: AsyncEngine
) -> None:
    ids = await estate(engine, admin)
    await sign_in(browser, admin)
    token = form_token((await browser.get("/account")).text)
    too_long = "x" * 100_001  # past every form field's bound, and no number
    answers = {}
    for path in sorted(console_forms(app) - {"/login", "/logout"}):
        for name in declared_fields(app, path):
            target = url(path, ids)
            forged = await browser.post(target, data={name: too_long})
            typed = await browser.post(target, data={name: too_long, "csrf_token": token})
            answers[path, name] = (forged, typed)

    assert len(answers) > 100  # the routes' fields were found
    for (path, name), (forged, typed) in answers.items():
        assert forged.status_code == 403, (path, name, forged.text[:200])
        assert too_long[:30] not in forged.text, (path, name)
        for response in (forged, typed):  # a page, whichever check refused it; never JSON
            assert response.headers["content-type"].startswith("text/html"), (path, name)
            assert response.status_code < 500, (path, name)
            assert await audit_trail(engine, response) == []


@pytest.mark.backends("sqlite")
async def test_a_page_path_or_query_fastapi_refuses_is_answered_as_a_page(
    browser: httpx.AsyncClient, admin: Person
) -> None:
    await sign_in(browser, admin)

    no_id = await browser.get("/hosts/0")
    past_ids = await browser.get("/schedules/99999999999999999999")
    repeated = await browser.get("/hosts", params=[("status", "active"), ("status", "failed")])
    not_a_count = await browser.get("/hosts/bulk", params={"expected": "many"})
    unknown = await browser.get("/hosts/bulk", params={"tag": "role=web"})  # now ``tags``

    assert (no_id.status_code, past_ids.status_code) == (404, 404)
    assert (repeated.status_code, not_a_count.status_code, unknown.status_code) == (422,) * 3
    assert "expected" in not_a_count.text
    for response in (no_id, past_ids, repeated, not_a_count, unknown):
        assert response.headers["content-type"].startswith("text/html")


@pytest.mark.backends("sqlite")
async def test_a_form_starlette_cannot_read_is_refused_as_a_page(
    browser: httpx.AsyncClient, admin: Person, engine: AsyncEngine
) -> None:
    ids = await estate(engine, admin)
    await sign_in(browser, admin)
    crowded = [("f", (None, "")) for _ in range(LAUNCH_FIELDS + 1)]  # past its max_fields

    answer = await browser.post(url("/schedules/{schedule_id}/values", ids), files=crowded)

    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("text/html")
    assert await audit_trail(engine, answer) == []
