"""Secrets from the console over real HTTP: stored from a form (a taken key 409, never a
value shown back), listed without values, revealed only with the password typed again
(a wrong one refused; the reveal audited; the page not kept by a browser), given a new
value and deleted; a viewer has no secrets page."""

from __future__ import annotations

import re

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.db.session import session_factory, unit_of_work
from opsledger.models import User
from tests.api import PASSWORD, Person, audit_trail, build_app
from tests.factories import make_secret, unique
from tests.web.pages import ROOT, form_token, sign_in


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
    assert await audit_trail(engine, wrong) == [("password_confirm_failed", "user")]
    assert f'<code id="revealed" data-copy="the value">{value}</code>' in revealed.text
    assert revealed.headers["cache-control"] == "no-store"
    assert await audit_trail(engine, revealed) == [("reveal", "secret")]
    assert replaced.status_code == 303
    assert f'<code id="revealed" data-copy="the value">{newer}</code>' in again.text
    assert deleted.status_code == 303
    assert gone.status_code == 404


async def test_a_viewer_has_no_secrets(browser: httpx.AsyncClient, viewer: Person) -> None:
    await sign_in(browser, viewer)
    overview = await browser.get("/")
    assert 'href="/secrets"' not in overview.text
    assert (await browser.get("/secrets")).status_code == 403


async def test_wrong_passwords_at_a_reveal_are_limited_as_sign_ins_are(
    engine: AsyncEngine, operator: Person
) -> None:
    """A stolen session cannot guess the password through the reveal form (a server of
    its own: a fresh limit)."""
    async with unit_of_work(session_factory(engine)) as session:
        owner = await session.get(User, operator.id)
        assert owner is not None
        secret = await make_secret(session, owner)
    transport = httpx.ASGITransport(app=build_app(engine))
    async with httpx.AsyncClient(transport=transport, base_url=ROOT) as browser:
        await sign_in(browser, operator)
        token = form_token((await browser.get("/secrets")).text)
        reveal = f"/secrets/{secret.id}/reveal"
        wrong = [
            await browser.post(reveal, data={"csrf_token": token, "password": "nope-nope"})
            for _ in range(5)
        ]
        right = await browser.post(reveal, data={"csrf_token": token, "password": PASSWORD})

    assert [r.status_code for r in wrong] == [422] * 5
    assert right.status_code == 429
    assert int(right.headers["retry-after"]) > 0
    assert "too many wrong passwords" in right.text
    assert 'id="revealed"' not in right.text
