"""The signed-in user's own page over real HTTP: API keys made (the key shown once, not
kept by a browser, and it works within its scopes), refused beside their field (a scope
the role lacks, an expiry in the past), revoked (then refused); the password changed (a wrong current one
refused, nothing typed shown back; then every session ends) and signing out everywhere."""

from __future__ import annotations

import re

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.api import PASSWORD, Person, audit_trail
from tests.factories import unique
from tests.web.pages import form_token, sign_in


async def test_an_operator_makes_uses_and_revokes_an_api_key(
    browser: httpx.AsyncClient, client: httpx.AsyncClient, operator: Person
) -> None:
    await sign_in(browser, operator)
    token = form_token((await browser.get("/account")).text)
    name = unique("ci")

    too_wide = await browser.post(
        "/account/api-keys", data={"csrf_token": token, "name": name, "scopes": "users:write"}
    )
    past = await browser.post(
        "/account/api-keys",
        data={"csrf_token": token, "name": name, "expires_at": "2001-01-01T00:00"},
    )
    made = await browser.post(
        "/account/api-keys", data={"csrf_token": token, "name": name, "scopes": "hosts:read"}
    )
    key = re.search(r'<code id="api-key"[^>]*>([^<]+)</code>', made.text)
    assert key is not None, made.text
    works = await client.get("/hosts", headers={"X-API-Key": key.group(1)})
    narrow = await client.get("/jobs", headers={"X-API-Key": key.group(1)})
    page = await browser.get("/account")
    key_id = re.search(r"/account/api-keys/(\d+)/revoke", page.text)
    assert key_id is not None, page.text
    revoked = await browser.post(
        f"/account/api-keys/{key_id.group(1)}/revoke", data={"csrf_token": token}
    )
    refused = await client.get("/hosts", headers={"X-API-Key": key.group(1)})

    assert too_wide.status_code == 422
    assert "users:write" in too_wide.text
    assert past.status_code == 422
    assert made.status_code == 201
    assert made.headers["cache-control"] == "no-store"
    assert works.status_code == 200
    assert narrow.status_code == 403
    assert key.group(1) not in page.text
    assert revoked.status_code == 303
    assert refused.status_code == 401


async def test_a_password_change_ends_every_session_and_a_wrong_one_is_refused(
    browser: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    await sign_in(browser, operator)
    token = form_token((await browser.get("/account")).text)
    new = "a-new-password-" + unique("p")

    wrong = await browser.post(
        "/account/password",
        data={
            "csrf_token": token,
            "current_password": "not-it-" + unique("w"),
            "new_password": new,
        },
    )
    weak = await browser.post(
        "/account/password",
        data={"csrf_token": token, "current_password": PASSWORD, "new_password": "short"},
    )
    changed = await browser.post(
        "/account/password",
        data={"csrf_token": token, "current_password": PASSWORD, "new_password": new},
    )
    after = await browser.get("/account")
    signed_in = await sign_in(browser, operator, new)

    assert wrong.status_code == 422
    assert "the current password is not correct" in wrong.text
    assert await audit_trail(engine, wrong) == [("password_confirm_failed", "user")]
    assert await audit_trail(engine, weak) == []  # a weak new one: refused, nothing kept
    assert new not in wrong.text
    assert weak.status_code == 422
    assert 'id="new_password-error"' in weak.text  # beside the new one, not the current
    assert changed.status_code == 303
    assert changed.headers["location"] == "/login"
    assert after.status_code == 303  # the session ended with the change
    assert signed_in.status_code == 303


async def test_signing_out_everywhere_ends_this_session(
    browser: httpx.AsyncClient, viewer: Person
) -> None:
    await sign_in(browser, viewer)
    page = await browser.get("/account")
    out = await browser.post("/account/logout-all", data={"csrf_token": form_token(page.text)})
    assert 'id="api-keys"' in page.text  # a viewer makes keys too (they read only)
    assert out.status_code == 303
    assert (await browser.get("/")).status_code == 303
