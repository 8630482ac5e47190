"""The system page over real HTTP (admins): version, backend, schema revision (the
newest), key generations and what retention would remove; the audit chain walked on
demand; a backup downloaded after the password is typed again; an operator gets none."""

from __future__ import annotations

import io
import json
import re
import tempfile
import zipfile
from importlib.metadata import version
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger import migrations
from tests.api import PASSWORD, Person, audit_trail
from tests.factories import unique
from tests.web.pages import form_token, sign_in


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


async def test_an_admin_downloads_a_backup_after_typing_the_password_again(
    browser: httpx.AsyncClient,
    admin: Person,
    engine: AsyncEngine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    await sign_in(browser, admin)
    token = form_token((await browser.get("/system")).text)

    wrong = await browser.post(
        "/system/backup", data={"csrf_token": token, "password": "nope-" + unique("x")}
    )
    sent = await browser.post("/system/backup", data={"csrf_token": token, "password": PASSWORD})

    assert wrong.status_code == 422
    assert "the current password is not correct" in wrong.text
    assert await audit_trail(engine, wrong) == [("password_confirm_failed", "user")]
    assert sent.status_code == 200
    assert sent.headers["content-type"] == "application/zip"
    assert sent.headers["cache-control"] == "no-store"
    assert re.fullmatch(
        r'attachment; filename="opsledger-\d{8}T\d{6}Z\.zip"', sent.headers["content-disposition"]
    )
    with zipfile.ZipFile(io.BytesIO(sent.content)) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    assert manifest["schema_revision"] == migrations.head_revision()
    assert await audit_trail(engine, sent) == [("download", "backup")]
    assert list(tmp_path.iterdir()) == []  # the archive went with the answer


async def test_a_backup_needs_an_admin_and_the_form_token(
    browser: httpx.AsyncClient, operator: Person, admin: Person
) -> None:
    await sign_in(browser, operator)
    token = form_token((await browser.get("/account")).text)
    by_operator = await browser.post(
        "/system/backup", data={"csrf_token": token, "password": PASSWORD}
    )
    await sign_in(browser, admin)
    forged = await browser.post("/system/backup", data={"password": PASSWORD})

    assert by_operator.status_code == 403
    assert forged.status_code == 403
    assert "zip" not in forged.headers["content-type"]
