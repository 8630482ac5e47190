"""The system page over real HTTP (admins): version, backend, schema revision (the
newest), key generations and what retention would remove; the audit chain walked on
demand; an operator gets neither."""

from __future__ import annotations

from importlib.metadata import version

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger import migrations
from tests.api import Person
from tests.web.pages import sign_in


async def test_an_admin_reads_the_system_and_verifies_the_audit_chain(
    browser: httpx.AsyncClient, admin: Person, engine: AsyncEngine
) -> None:
    await sign_in(browser, admin)
    page = await browser.get("/system")
    chain = await browser.get("/system/audit-chain")

    assert page.status_code == 200
    assert f"opsledger {version('opsledger')}" in page.text
    assert f"<dd>{engine.dialect.name}</dd>" in page.text
    assert f"revision {migrations.head_revision()} (the newest)" in page.text
    assert "a run now would remove" in page.text
    assert chain.status_code == 200
    assert "<strong>Intact</strong>" in chain.text


async def test_an_operator_gets_no_system_page(
    browser: httpx.AsyncClient, operator: Person
) -> None:
    await sign_in(browser, operator)
    assert (await browser.get("/system")).status_code == 403
    assert (await browser.get("/system/audit-chain")).status_code == 403
