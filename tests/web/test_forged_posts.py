"""Every console form refuses a post without its session's form token, and every form a
viewer has no business with refuses a viewer's post that carries one: a forged post
answers 403 and changes nothing (no audit row is written for it). The forms are read
from the app's routes, so a new one is tried too (one whose path names a new kind of id
fails until ``estate`` makes one)."""

from __future__ import annotations

import re
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.db.session import session_factory, unit_of_work
from opsledger.kit.routers import API_PREFIX
from opsledger.models import User
from tests import factories as f
from tests.api import Person, audit_trail
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


def console_forms(app: FastAPI) -> set[str]:
    return {
        route.path
        for route in app.router.routes
        if "POST" in (getattr(route, "methods", None) or ())
        and not getattr(route, "path", "").startswith(API_PREFIX)
    }


async def estate(engine: AsyncEngine, viewer: Person) -> dict[str, Any]:
    """One row of everything a form acts on; the viewer owns the key, the secret and the
    deployment."""
    async with unit_of_work(session_factory(engine)) as session:
        owner = await session.get(User, viewer.id)
        assert owner is not None
        host = await f.make_host(session)
        template = await f.make_template(session)
        run = await f.make_run(session)
        channel = await f.make_channel(session)
        delivery = await f.make_delivery(session, channel_id=channel.id)
        return {
            "job_id": (await f.make_job(session, host_id=host.id)).id,
            "template_id": template.id,
            "run_id": run.id,
            "schedule_id": (await f.make_schedule(session, template_id=template.id)).id,
            "change": "disable",
            "window_id": (await f.make_window(session)).id,
            "trigger_id": (await f.make_trigger(session, template_id=template.id)).id,
            "ticket_id": (await f.make_ticket(session)).id,
            "host_id": host.id,
            "credential_id": (await f.make_credential(session, host)).id,
            "role_id": (await f.make_role(session)).id,
            "playbook_id": (await f.make_playbook(session)).id,
            "deployment_id": (await f.make_deployment(session, user_id=owner.id)).id,
            "alert_id": (await f.make_alert(session)).id,
            "verb": "acknowledge",
            "channel_id": channel.id,
            "rule_id": (await f.make_rule(session, channel_id=channel.id)).id,
            "delivery_id": delivery.id,
            "key_id": (await f.make_api_key(session, owner)).id,
            "user_id": (await f.make_user(session)).id,
            "secret_id": (await f.make_secret(session, owner)).id,
            "entry_id": (await f.make_application(session)).id,
            "infrastructure": (await f.make_infrastructure(session, secret_config="{}")).id,
        }


def url(path: str, ids: dict[str, Any]) -> str:
    """The path with ids of the estate (an infrastructure entry's for /infrastructure/…)."""
    if path.startswith("/infrastructure/"):
        ids = ids | {"entry_id": ids["infrastructure"]}
    return path.format(**ids)


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
