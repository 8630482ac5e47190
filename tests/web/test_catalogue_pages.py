"""Applications and infrastructure from the console over real HTTP: added and edited from
a form (a document that is not a mapping refused beside its field, keeping what was
typed; a taken name 409); an infrastructure's provider secrets are stored and never shown
again, and a blank field keeps them unless cleared; an entry is deleted unless a deployment uses it; a
viewer reads but changes nothing."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.db.session import session_factory, unit_of_work
from tests import factories as f
from tests.api import Person, audit_trail
from tests.factories import unique
from tests.web.pages import form_token, sign_in


async def test_an_operator_adds_and_edits_infrastructure_whose_secrets_stay_hidden(
    browser: httpx.AsyncClient, client: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    await sign_in(browser, operator)
    token = form_token((await browser.get("/infrastructure/new")).text)
    secret = "sk-" + unique("s")
    good = {"csrf_token": token, "name": unique("eu"), "provider": "hetzner", "region": "fsn1",
            "config": "network: 10.0.0.0/16", "secrets": f"api_token: {secret}"}  # fmt: skip

    listy = await browser.post("/infrastructure", data=good | {"config": "- a"})
    made = await browser.post("/infrastructure", data=good)
    taken = await browser.post("/infrastructure", data=good)
    assert made.status_code == 303, made.text
    page = made.headers["location"]
    shown = await browser.get(page)
    edited = await browser.post(page, data=good | {"region": "nbg1", "secrets": ""})
    read = await client.get(f"/infrastructure/{page.rsplit('/', 1)[1]}", headers=operator.headers)

    assert listy.status_code == 422
    assert "config must be a mapping" in listy.text
    assert secret not in listy.text  # a refused form does not show secrets back
    assert taken.status_code == 409
    assert "network: 10.0.0.0/16" in shown.text
    assert secret not in shown.text
    assert "some are stored" in shown.text
    assert edited.status_code == 303
    assert read.json()["region"] == "nbg1"
    assert read.json()["has_secrets"] is True  # blank kept them
    assert await audit_trail(engine, made) == [("create", "infrastructure")]
    assert 'name="clear_secrets"' in shown.text
    cleared = await browser.post(page, data=good | {"secrets": "", "clear_secrets": "on"})
    after = await client.get(f"/infrastructure/{page.rsplit('/', 1)[1]}", headers=operator.headers)
    assert cleared.status_code == 303
    assert after.json()["has_secrets"] is False
    assert await audit_trail(engine, cleared) == [("update", "infrastructure")]


async def test_an_application_is_added_and_a_viewer_changes_nothing(
    browser: httpx.AsyncClient, operator: Person, viewer: Person
) -> None:
    await sign_in(browser, operator)
    token = form_token((await browser.get("/applications/new")).text)
    name = unique("shop")
    made = await browser.post(
        "/applications",
        data={"csrf_token": token, "name": name, "repo_url": "https://git.example.com/shop.git"},
    )
    assert made.status_code == 303, made.text
    await sign_in(browser, viewer)
    listed = await browser.get("/applications", params={"name": name})
    page = await browser.get(made.headers["location"])
    forged = await browser.post(
        made.headers["location"], data={"csrf_token": form_token(listed.text), "name": unique("x")}
    )
    assert name in listed.text
    assert 'href="/applications/new"' not in listed.text
    assert "<fieldset disabled>" in page.text
    assert forged.status_code == 403


@pytest.mark.parametrize("path", ["/applications", "/infrastructure"])
async def test_an_entry_is_deleted_unless_a_deployment_uses_it(
    browser: httpx.AsyncClient, operator: Person, engine: AsyncEngine, path: str
) -> None:
    async with unit_of_work(session_factory(engine)) as session:
        if path == "/applications":
            unused, used = await f.make_application(session), await f.make_application(session)
            await f.make_deployment(session, application_id=used.id)
        else:
            unused = await f.make_infrastructure(session, secret_config="{}")
            used = await f.make_infrastructure(session, secret_config="{}")
            await f.make_deployment(session, infrastructure_id=used.id)
    await sign_in(browser, operator)
    page = await browser.get(f"{path}/{unused.id}")
    token = form_token(page.text)

    deleted = await browser.post(f"{path}/{unused.id}/delete", data={"csrf_token": token})
    kept = await browser.post(f"{path}/{used.id}/delete", data={"csrf_token": token})

    assert f'action="{path}/{unused.id}/delete"' in page.text
    assert deleted.status_code == 303
    assert deleted.headers["location"] == path
    assert (await browser.get(f"{path}/{unused.id}")).status_code == 404
    assert await audit_trail(engine, deleted) == [("delete", path.strip("/").removesuffix("s"))]
    assert kept.status_code == 409
    assert "used by deployments" in kept.text
    assert (await browser.get(f"{path}/{used.id}")).status_code == 200
