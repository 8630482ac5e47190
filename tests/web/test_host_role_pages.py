"""Host roles from the console over real HTTP: added and edited from a form (variables
as YAML, refused beside the field when not a mapping or when they set how a host is
reached, keeping what was typed; a taken name 409), with the playbook that provisions
its hosts; a viewer reads a role but gets no form, and a forged post is refused."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.db.session import session_factory, unit_of_work
from tests import factories as f
from tests.api import Person, audit_trail
from tests.factories import unique
from tests.web.pages import form_token, sign_in


async def test_an_operator_adds_and_edits_a_role(
    browser: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    async with unit_of_work(session_factory(engine)) as session:
        playbook = await f.make_playbook(session)
    await sign_in(browser, operator)
    token = form_token((await browser.get("/host-roles/new")).text)
    name = unique("web")
    good = {"csrf_token": token, "name": name, "default_playbook_id": str(playbook.id),
            "variables": "nginx_workers: 4\nlisten: [80, 443]"}  # fmt: skip

    listy = await browser.post("/host-roles", data=good | {"variables": "- a\n- b"})
    reach = await browser.post("/host-roles", data=good | {"variables": "ansible_host: 10.0.0.1"})
    made = await browser.post("/host-roles", data=good)
    taken = await browser.post("/host-roles", data=good)
    assert made.status_code == 303, made.text
    page = await browser.get(made.headers["location"])
    edited = await browser.post(
        made.headers["location"], data=good | {"default_playbook_id": "", "description": "web tier"}
    )
    after = await browser.get(made.headers["location"])

    assert listy.status_code == 422
    assert "variables must be a mapping" in listy.text
    assert reach.status_code == 422
    assert "ansible_host" in reach.text
    assert taken.status_code == 409
    assert "nginx_workers: 4" in page.text
    assert f'<option value="{playbook.id}" selected>' in page.text
    assert edited.status_code == 303
    assert 'value="web tier"' in after.text
    assert f'<option value="{playbook.id}" selected>' not in after.text
    assert await audit_trail(engine, made) == [("create", "host_role")]


async def test_a_viewer_reads_a_role_but_changes_none(
    browser: httpx.AsyncClient, viewer: Person, engine: AsyncEngine
) -> None:
    async with unit_of_work(session_factory(engine)) as session:
        role = await f.make_role(session)
    await sign_in(browser, viewer)
    page = await browser.get(f"/host-roles/{role.id}")
    listed = await browser.get("/host-roles")
    forged = await browser.post(
        f"/host-roles/{role.id}", data={"csrf_token": form_token(listed.text), "name": unique("x")}
    )
    assert page.status_code == 200
    assert '<form class="card" method="post"' not in page.text
    assert 'href="/host-roles/new"' not in listed.text
    assert forged.status_code == 403
