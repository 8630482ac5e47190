"""Playbooks from the console over real HTTP: an admin registers one by pasting its YAML
or uploading its file (refused beside the field when it is not a playbook, keeping what
was typed or uploaded) or by its path under the playbook root; its page shows its
content, its SHA-256 and whether the file still matches; its details (never its file)
are changed; it is switched off and on, audited; an operator reads but registers
nothing, even by a forged post."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.db.session import session_factory, unit_of_work
from tests import factories as f
from tests.api import Person, audit_trail
from tests.factories import unique
from tests.web.pages import form_token, sign_in

PLAY = "- hosts: all\n  tasks:\n    - name: say hello\n      debug:\n        msg: hello <world>\n"


async def test_an_admin_registers_a_pasted_playbook_and_reads_it_back(
    browser: httpx.AsyncClient, admin: Person, engine: AsyncEngine
) -> None:
    await sign_in(browser, admin)
    token = form_token((await browser.get("/playbooks/new")).text)
    name = unique("hello")
    good = {"csrf_token": token, "name": name, "content": PLAY, "tags": "demo, hello",
            "variables": "greeting: hi"}  # fmt: skip

    not_yaml = await browser.post("/playbooks", data=good | {"content": "- hosts: [unclosed"})
    both = await browser.post("/playbooks", data=good | {"file_path": "site.yml"})
    bad_vars = await browser.post("/playbooks", data=good | {"variables": "- a list"})
    made = await browser.post("/playbooks", data=good)
    taken = await browser.post("/playbooks", data=good)
    assert made.status_code == 303, made.text
    page = await browser.get(made.headers["location"])
    listed = await browser.get("/playbooks", params={"name": name})
    off = await browser.post(f"{made.headers['location']}/deactivate", data={"csrf_token": token})
    after = await browser.get(made.headers["location"])
    on = await browser.post(f"{made.headers['location']}/activate", data={"csrf_token": token})
    again = await browser.get(made.headers["location"])

    assert not_yaml.status_code == 422
    assert "hosts: [unclosed" in not_yaml.text  # what was typed stays
    assert both.status_code == 422
    assert bad_vars.status_code == 422
    assert "variables must be a mapping" in bad_vars.text
    assert taken.status_code == 409
    assert hashlib.sha256(PLAY.encode()).hexdigest() in page.text
    assert "matches the registered content" in page.text
    assert "msg: hello &lt;world&gt;" in page.text  # content is text, never markup
    assert "greeting: hi" in page.text
    assert name in listed.text
    assert off.status_code == 303
    assert "inactive" in after.text
    assert await audit_trail(engine, made) == [("create", "playbook")]
    assert await audit_trail(engine, off) == [("update", "playbook")]
    assert on.status_code == 303
    assert "<dd>active</dd>" in again.text
    assert await audit_trail(engine, on) == [("update", "playbook")]


async def test_a_file_under_the_root_is_registered_and_a_changed_one_is_flagged(
    browser: httpx.AsyncClient, admin: Person, app: FastAPI
) -> None:
    root: Path = app.state.settings.playbook_root
    relative = f"{unique('site')}.yml"
    (root / relative).write_text(PLAY)
    await sign_in(browser, admin)
    token = form_token((await browser.get("/playbooks/new")).text)

    outside = await browser.post(
        "/playbooks",
        data={"csrf_token": token, "name": unique("x"), "file_path": "../../etc/passwd"},
    )
    made = await browser.post(
        "/playbooks", data={"csrf_token": token, "name": unique("site"), "file_path": relative}
    )
    (root / relative).write_text(PLAY + "# changed\n")
    page = await browser.get(made.headers["location"])

    assert outside.status_code == 422
    assert made.status_code == 303, made.text
    assert "changed since it was registered" in page.text


async def test_an_uploaded_file_is_registered_and_a_bad_one_comes_back_to_mend(
    browser: httpx.AsyncClient, admin: Person, engine: AsyncEngine
) -> None:
    await sign_in(browser, admin)
    token = form_token((await browser.get("/playbooks/new")).text)

    async def upload(file: bytes, **fields: str) -> httpx.Response:
        data = {"csrf_token": token, "name": unique("uploaded")} | fields
        files = {"upload": ("site.yml", file, "text/yaml")}
        return await browser.post("/playbooks", data=data, files=files)

    not_text = await upload(b"\xff\xfe- hosts: all")
    too_big = await upload(b"#" * (1024 * 1024 + 1))
    both = await upload(PLAY.encode(), content=PLAY)
    not_yaml = await upload(b"- hosts: [unclosed")
    made = await upload(PLAY.encode())
    assert made.status_code == 303, made.text
    page = await browser.get(made.headers["location"])

    assert [r.status_code for r in (not_text, too_big, both, not_yaml)] == [422] * 4
    assert "not UTF-8 text" in not_text.text
    assert "larger than a playbook may be" in too_big.text
    assert "not both" in both.text
    assert "- hosts: [unclosed</textarea>" in not_yaml.text  # the file's text, to mend
    assert hashlib.sha256(PLAY.encode()).hexdigest() in page.text
    assert await audit_trail(engine, made) == [("create", "playbook")]


async def test_an_admin_changes_a_playbooks_details_but_never_its_file(
    browser: httpx.AsyncClient, admin: Person, engine: AsyncEngine
) -> None:
    async with unit_of_work(session_factory(engine)) as session:
        playbook = await f.make_playbook(session)
        other = await f.make_playbook(session)
    page = f"/playbooks/{playbook.id}"
    await sign_in(browser, admin)
    token = form_token((await browser.get(page)).text)
    details = {"csrf_token": token, "name": unique("renamed"), "description": "the <web> tier",
               "tags": "web, nightly", "variables": "release: 2.4"}  # fmt: skip

    listy = await browser.post(page, data=details | {"variables": "- a list"})
    taken = await browser.post(page, data=details | {"name": other.name})
    changed = await browser.post(page, data=details)
    shown = await browser.get(page)

    assert listy.status_code == 422
    assert "variables must be a mapping" in listy.text
    assert "- a list</textarea>" in listy.text and "the &lt;web&gt; tier" in listy.text  # noqa: PT018
    assert taken.status_code == 409
    assert changed.status_code == 303
    assert f'value="{details["name"]}"' in shown.text
    assert "release: 2.4" in shown.text
    assert playbook.file_hash in shown.text
    assert await audit_trail(engine, changed) == [("update", "playbook")]
    assert await audit_trail(engine, listy) == await audit_trail(engine, taken) == []


async def test_an_operator_reads_playbooks_but_registers_none(
    browser: httpx.AsyncClient, operator: Person
) -> None:
    await sign_in(browser, operator)
    listed = await browser.get("/playbooks")
    form = await browser.get("/playbooks/new")
    forged = await browser.post(
        "/playbooks",
        data={"csrf_token": form_token(listed.text), "name": unique("x"), "content": PLAY},
    )
    assert listed.status_code == 200
    assert 'href="/playbooks/new"' not in listed.text
    assert form.status_code == 403
    assert forged.status_code == 403
