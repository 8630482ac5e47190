"""Every console form refuses a post without its session's form token, and every form a
viewer has no business with refuses a viewer's post that carries one: a forged post
answers 403 and changes nothing (no audit row is written for it). The forms are read
from the app's routes, so a new one is tried too (one whose path names a new kind of id
fails until ``estate`` makes one)."""

from __future__ import annotations

import re

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.kit.routers import API_PREFIX
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
