"""Driving the console as a browser would, over HTTP: signing in through the form and
reading a form's CSRF token."""

from __future__ import annotations

import re

import httpx

from tests.api import PASSWORD, Person

ROOT = "http://opsledger.test"


def form_token(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


async def sign_in(
    browser: httpx.AsyncClient, person: Person, password: str = PASSWORD
) -> httpx.Response:
    form = await browser.get("/login")
    fields = {
        "username": person.username,
        "password": password,
        "csrf_token": form_token(form.text),
    }
    return await browser.post("/login", data=fields)
