"""Secrets from the console over real HTTP: stored from a form (a taken key 409, never a
value shown back), listed without values, revealed only with the password typed again
(a wrong one refused; the reveal audited; the page not kept by a browser), given a new
value and deleted; a viewer has no secrets page."""

from __future__ import annotations

import re

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.api import PASSWORD, Person, audit_trail
from tests.factories import unique
from tests.web.pages import form_token, sign_in


async def test_an_operator_stores_reveals_replaces_and_deletes_a_secret(
    browser: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    await sign_in(browser, operator)
    token = form_token((await browser.get("/secrets")).text)
    service, value, newer = unique("github"), "ghp_" + unique("v"), "ghp_" + unique("w")
    form = {"csrf_token": token, "service_name": service, "key_name": "token", "value": value}

    empty = await browser.post("/secrets", data=form | {"value": ""})
    stored = await browser.post("/secrets", data=form)
    taken = await browser.post("/secrets", data=form)
    listed = await browser.get("/secrets")
    secret_id = re.search(r'action="/secrets/(\d+)/reveal"', listed.text)
    assert secret_id is not None, listed.text
    page = f"/secrets/{secret_id.group(1)}"
    wrong = await browser.post(
        f"{page}/reveal", data={"csrf_token": token, "password": "nope-" + unique("x")}
    )
    revealed = await browser.post(
        f"{page}/reveal", data={"csrf_token": token, "password": PASSWORD}
    )
    replaced = await browser.post(f"{page}/value", data={"csrf_token": token, "value": newer})
    again = await browser.post(f"{page}/reveal", data={"csrf_token": token, "password": PASSWORD})
    deleted = await browser.post(f"{page}/delete", data={"csrf_token": token})
    gone = await browser.post(f"{page}/reveal", data={"csrf_token": token, "password": PASSWORD})

    assert empty.status_code == 422
    assert stored.status_code == 303
    assert taken.status_code == 409
    assert value not in taken.text + empty.text + listed.text + wrong.text
    assert wrong.status_code == 422
    assert "the current password is not correct" in wrong.text
    assert f'<code id="revealed">{value}</code>' in revealed.text
    assert revealed.headers["cache-control"] == "no-store"
    assert await audit_trail(engine, revealed) == [("reveal", "secret")]
    assert replaced.status_code == 303
    assert f'<code id="revealed">{newer}</code>' in again.text
    assert deleted.status_code == 303
    assert gone.status_code == 404


async def test_a_viewer_has_no_secrets(browser: httpx.AsyncClient, viewer: Person) -> None:
    await sign_in(browser, viewer)
    overview = await browser.get("/")
    assert 'href="/secrets"' not in overview.text
    assert (await browser.get("/secrets")).status_code == 403
