"""Deployments from the console over real HTTP: created from a form (a resource out of its
bounds refused beside its own field, keeping what was typed), scaled, moved along the
moves its status allows with a reason (one it may not make 409), deleted, each audited;
one made on an application and its infrastructure; a viewer gets no form and a forged post is refused."""

from __future__ import annotations

import re

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.db.session import session_factory, unit_of_work
from tests import factories as f
from tests.api import Person, audit_trail
from tests.factories import unique
from tests.web.pages import form_token, sign_in


async def test_an_operator_creates_scales_moves_and_deletes_a_deployment(
    browser: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    await sign_in(browser, operator)
    form = await browser.get("/deployments/new")
    token = form_token(form.text)
    good = {"csrf_token": token, "name": unique("api"), "image": "ghcr.io/acme/api",
            "version": "1.4", "target_replicas": "2", "cpu_cores": "1.5", "memory_mb": "1024",
            "gpu_units": "0", "storage_gb": "10"}  # fmt: skip

    too_big = await browser.post("/deployments", data=good | {"memory_mb": "999999"})
    made = await browser.post("/deployments", data=good)
    assert made.status_code == 303, made.text
    page = made.headers["location"]
    scaled = await browser.post(f"{page}/scale", data={"csrf_token": token, "target_replicas": "3"})
    bad_scale = await browser.post(
        f"{page}/scale", data={"csrf_token": token, "target_replicas": "x"}
    )
    moved = await browser.post(
        f"{page}/move",
        data={"csrf_token": token, "status": "scheduled", "reason": "capacity found"},
    )
    stuck = await browser.post(f"{page}/move", data={"csrf_token": token, "status": "pending"})
    shown = await browser.get(page)
    deleted = await browser.post(f"{page}/delete", data={"csrf_token": token})

    assert "0.5 to 32" in form.text  # the bounds are shown
    assert too_big.status_code == 422
    assert 'id="memory_mb-error"' in too_big.text  # beside its own field
    assert 'value="999999"' in too_big.text
    assert scaled.status_code == 303
    assert bad_scale.status_code == 422
    assert moved.status_code == 303
    assert stuck.status_code == 409
    assert "3 wanted" in shown.text
    assert "capacity found" in shown.text
    assert deleted.status_code == 303
    assert await audit_trail(engine, made) == [("create", "deployment")]
    assert await audit_trail(engine, scaled) == [("scale", "deployment")]


async def test_a_deployment_is_made_on_an_application_and_its_infrastructure(
    browser: httpx.AsyncClient, client: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    async with unit_of_work(session_factory(engine)) as session:
        application = await f.make_application(session)
        site = await f.make_infrastructure(session, secret_config="{}")
    await sign_in(browser, operator)
    form = await browser.get("/deployments/new")
    good = {"csrf_token": form_token(form.text), "name": unique("shop"), "image": "ghcr.io/a/shop",
            "cpu_cores": "1", "memory_mb": "512", "storage_gb": "5",
            "application_id": str(application.id), "infrastructure_id": str(site.id)}  # fmt: skip

    missing = await browser.post("/deployments", data=good | {"application_id": "2000000000"})
    made = await browser.post("/deployments", data=good)
    assert made.status_code == 303, made.text
    shown = await browser.get(made.headers["location"])
    read = await client.get("/deployments", params={"name": good["name"]}, headers=operator.headers)

    assert re.search(rf'<option value="{application.id}"[^>]*>{application.name}</', form.text)
    assert missing.status_code == 422
    assert "application 2000000000 does not exist" in missing.text
    assert f'href="/infrastructure/{site.id}"' in shown.text
    (deployment,) = read.json()["items"]
    assert (deployment["application_id"], deployment["infrastructure_id"]) == (
        application.id,
        site.id,
    )


async def test_a_viewer_gets_no_deployment_form(browser: httpx.AsyncClient, viewer: Person) -> None:
    await sign_in(browser, viewer)
    listed = await browser.get("/deployments")
    form = await browser.get("/deployments/new")
    forged = await browser.post(
        "/deployments", data={"csrf_token": form_token(listed.text), "name": unique("x")}
    )
    assert 'href="/deployments/new"' not in listed.text
    assert form.status_code == 403
    assert forged.status_code == 403
