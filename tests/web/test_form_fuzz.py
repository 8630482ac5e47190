"""No console form answers 500, whatever an admin types into its fields: every field of
every form the app routes gets each of the values below at once (NUL, a huge string,
instants past the calendar, numbers past any column, template and markup injection,
YAML that would build objects, paths out of the root). The fields are the form's own,
as the route reads them and as the page that shows it names them."""

from __future__ import annotations

import re

import bcrypt
import httpx
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.users.models import UserRole
from tests.api import PASSWORD, build_app, make_person
from tests.web.estate import console_forms, estate, url
from tests.web.pages import ROOT, form_token, sign_in

NASTY = [
    "\x00",
    "x" * 70_001,
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59",
    "-1",
    "99999999999999999999999",
    "1e309",
    "NaN",
    "{{ 7 * 7 }}<script>alert(1)</script>",
    "💥\u202e",
    "a: !!python/object/apply:os.system ['true']",
    "[unclosed",
    "../../../../etc/passwd",
    " \r\n ",
]
# Forms that end the admin's own session: posting them would sign the test out.
SIGNING_OUT = {"/logout", "/account/logout-all"}
NAME = re.compile(r'<(?:input|select|textarea)\b[^>]*\bname="([^"]+)"')


def declared(dependant: Dependant) -> set[str]:
    """The form fields a route declares (those of a form model too)."""
    names: set[str] = set()
    for field in dependant.body_params:
        model_fields = getattr(field.field_info.annotation, "model_fields", None)
        if model_fields:
            names |= {info.alias or name for name, info in model_fields.items()}
        else:
            names.add(field.alias)
    for sub in dependant.dependencies:
        names |= declared(sub)
    return names


async def fields_of(app: FastAPI, browser: httpx.AsyncClient, path: str, ids: dict) -> set[str]:
    """The fields a user types into the form: those its route declares or, for a form
    the route reads itself (a template's prompts, a catalogue entry's fields), those the
    page that shows it names. Empty for a button (only its token)."""
    route = next(r for r in app.router.routes if getattr(r, "path", None) == path)
    names = declared(route.dependant)
    if not names:
        shown = url(path, ids)
        pages = [shown, f"{shown}/new", shown.rsplit("/", 1)[0] or "/"]
        for page in pages:
            names |= set(NAME.findall((await browser.get(page)).text))
    return names - {"csrf_token"}


@pytest.fixture
async def admin_browser(engine: AsyncEngine) -> httpx.AsyncClient:
    """A server of its own, whose limits on wrong passwords are out of reach: every
    value reaches the password check behind them (bcrypt), none stops at a 429."""
    app = build_app(engine, login_max_failures=10_000, login_max_failures_per_ip=10_000)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url=ROOT)


async def test_no_form_answers_500_whatever_is_typed(
    engine: AsyncEngine, admin_browser: httpx.AsyncClient
) -> None:
    # Its password hashed at bcrypt's lowest cost: each wrong one costs 1 ms, not 250.
    cheap = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
    admin = await make_person(engine, UserRole.admin, password_hash=cheap)
    app = admin_browser._transport.app  # type: ignore[attr-defined]
    ids = await estate(engine, admin)
    async with admin_browser as browser:
        await sign_in(browser, admin)
        token = form_token((await browser.get("/account")).text)
        failed: dict[str, list[str]] = {}
        for path in sorted(console_forms(app) - SIGNING_OUT):
            names = await fields_of(app, browser, path, ids)
            for value in NASTY if names else ():
                data = dict.fromkeys(names, value) | {"csrf_token": token}
                answer = await browser.post(url(path, ids), data=data)
                if answer.status_code >= 500:
                    failed.setdefault(path, []).append(repr(value[:40]))
    assert failed == {}
