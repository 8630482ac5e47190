"""User accounts from the console over real HTTP (admins): one made from a form (its
generated password shown once, not kept by a browser, and it signs in), refused beside
its field (a taken name 409, a bad email 422), or with a password the admin chose (a
weak one refused beside its field, never shown back); a role set, a new password,
generated or chosen (the old one stops working), unlocking, deactivating, an email changed (refused beside its field when
bad or taken); an operator sees no Users page and a forged post is
refused."""

from __future__ import annotations

import re

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.users.models import UserRole
from tests.api import Person, audit_trail, make_person
from tests.factories import unique
from tests.web.pages import form_token, sign_in


async def test_an_admin_makes_a_user_who_signs_in_with_the_password_shown_once(
    browser: httpx.AsyncClient, client: httpx.AsyncClient, admin: Person
) -> None:
    await sign_in(browser, admin)
    token = form_token((await browser.get("/users")).text)
    name = unique("alice")
    form = {
        "csrf_token": token,
        "username": name,
        "email": f"{name}@example.com",
        "role": "operator",
    }

    bad_email = await browser.post("/users", data=form | {"email": "not-an-email"})
    made = await browser.post("/users", data=form)
    taken = await browser.post("/users", data=form)
    shown = re.search(r'<code id="password"[^>]*>([^<]+)</code>', made.text)
    user_id = re.search(r'action="/users/(\d+)/role"', made.text)
    assert shown is not None and user_id is not None, made.text  # noqa: PT018
    page = f"/users/{user_id.group(1)}"
    login = await client.post("/auth/login", json={"username": name, "password": shown.group(1)})
    role = await browser.post(f"{page}/role", data={"csrf_token": token, "role": "viewer"})
    reset = await browser.post(f"{page}/password", data={"csrf_token": token})
    newer = re.search(r'<code id="password"[^>]*>([^<]+)</code>', reset.text)
    assert newer is not None, reset.text
    old = await client.post("/auth/login", json={"username": name, "password": shown.group(1)})
    unlocked = await browser.post(f"{page}/unlock", data={"csrf_token": token})
    deactivated = await browser.post(f"{page}/deactivate", data={"csrf_token": token})
    after = await browser.get(page)
    activated = await browser.post(f"{page}/activate", data={"csrf_token": token})
    login_again = await client.post(
        "/auth/login", json={"username": name, "password": newer.group(1)}
    )

    assert bad_email.status_code == 422
    assert made.status_code == 201
    assert made.headers["cache-control"] == "no-store"
    assert taken.status_code == 409
    assert login.status_code == 200, login.text
    assert role.status_code == 303
    assert reset.headers["cache-control"] == "no-store"
    assert old.status_code == 401
    assert unlocked.status_code == 303
    assert deactivated.status_code == 303
    assert "deactivated" in after.text
    assert activated.status_code == 303
    assert login_again.status_code == 200, login_again.text
    assert "<dd>viewer</dd>" in after.text
    assert shown.group(1) not in after.text and newer.group(1) not in after.text  # noqa: PT018


async def test_an_admin_chooses_a_users_password_on_creation_and_on_reset(
    browser: httpx.AsyncClient, client: httpx.AsyncClient, admin: Person, engine: AsyncEngine
) -> None:
    await sign_in(browser, admin)
    token = form_token((await browser.get("/users")).text)
    name = unique("bob")
    chosen, weak, later = "chosen-Passw0rd-4821", "short", "later-Passw0rd-9930"
    form = {"csrf_token": token, "username": name, "email": f"{name}@example.com",
            "role": "viewer"}  # fmt: skip

    refused = await browser.post("/users", data=form | {"password": weak})
    made = await browser.post("/users", data=form | {"password": chosen})
    user_id = re.search(r'action="/users/(\d+)/role"', made.text)
    assert user_id is not None, made.text
    page = f"/users/{user_id.group(1)}"
    signed_in = await client.post("/auth/login", json={"username": name, "password": chosen})
    weak_reset = await browser.post(
        f"{page}/password", data={"csrf_token": token, "new_password": weak}
    )
    reset = await browser.post(
        f"{page}/password", data={"csrf_token": token, "new_password": later}
    )
    old = await client.post("/auth/login", json={"username": name, "password": chosen})
    new = await client.post("/auth/login", json={"username": name, "password": later})

    assert refused.status_code == 422
    assert 'id="password-error"' in refused.text
    assert f'value="{name}"' in refused.text  # the form as typed, but for the password
    assert await audit_trail(engine, refused) == []
    assert made.status_code == 201
    assert 'id="password"' not in made.text  # nothing generated, nothing shown
    assert chosen not in made.text
    assert signed_in.status_code == 200, signed_in.text
    assert weak_reset.status_code == 422
    assert 'id="new_password-error"' in weak_reset.text
    assert await audit_trail(engine, weak_reset) == []
    assert reset.status_code == 303
    assert await audit_trail(engine, reset) == [("password_reset", "user")]
    assert old.status_code == 401
    assert new.status_code == 200, new.text


async def test_an_admin_changes_a_users_email_and_a_refused_one_comes_back_as_typed(
    browser: httpx.AsyncClient, client: httpx.AsyncClient, admin: Person, engine: AsyncEngine
) -> None:
    person = await make_person(engine, UserRole.viewer)
    other = await make_person(engine, UserRole.viewer)
    page = f"/users/{person.id}"
    await sign_in(browser, admin)
    token = form_token((await browser.get(page)).text)

    bad = await browser.post(f"{page}/email", data={"csrf_token": token, "email": "nope<b>"})
    taken = await browser.post(
        f"{page}/email", data={"csrf_token": token, "email": f"{other.username}@example.com"}
    )
    new = f"{unique('renamed')}@example.com"
    changed = await browser.post(f"{page}/email", data={"csrf_token": token, "email": new.upper()})
    read = (await client.get(page, headers=admin.headers)).json()

    assert bad.status_code == 422
    assert 'value="nope&lt;b&gt;"' in bad.text and 'aria-invalid="true"' in bad.text  # noqa: PT018
    assert taken.status_code == 409
    assert "another user has that email" in taken.text
    assert changed.status_code == 303
    assert read["email"] == new
    assert await audit_trail(engine, changed) == [("update", "user")]
    assert await audit_trail(engine, bad) == await audit_trail(engine, taken) == []


async def test_an_operator_gets_no_users_page(browser: httpx.AsyncClient, operator: Person) -> None:
    await sign_in(browser, operator)
    overview = await browser.get("/")
    listed = await browser.get("/users")
    forged = await browser.post(
        "/users",
        data={
            "csrf_token": form_token(overview.text),
            "username": unique("m"),
            "email": "m@example.com",
        },
    )
    assert 'href="/users"' not in overview.text
    assert listed.status_code == 403
    assert forged.status_code == 403
