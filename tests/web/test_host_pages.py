"""Hosts from the console over real HTTP: added and edited from a form (refusals beside
their fields, keeping what was typed; a taken name 409), moved along their lifecycle by
the moves their status allows, each change audited; changed together when a filter, tags
or ticks on the list select them, after seeing how many; a viewer gets no form and a
forged post is refused."""

from __future__ import annotations

import html
import re

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.db.session import session_factory, unit_of_work
from opsledger.hosts.models import Host
from opsledger.web import forms
from tests import factories as f
from tests.api import Person, audit_trail
from tests.factories import unique
from tests.web.pages import form_token, sign_in


async def test_an_operator_adds_edits_and_moves_a_host(
    browser: httpx.AsyncClient, client: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    await sign_in(browser, operator)
    form = await browser.get("/hosts/new")
    token = form_token(form.text)
    name = unique("web")
    good = {
        "csrf_token": token,
        "hostname": name,
        "ip_address": "192.0.2.44",
        "os_type": "debian",
        "ssh_port": "22",
        "environment": "staging",
        "tags": "rack=r7\nowner=web-team",
    }

    refused = {
        "address": await browser.post("/hosts", data=good | {"ip_address": "not-an-ip"}),
        "port": await browser.post("/hosts", data=good | {"ssh_port": "70000"}),
        "missing": await browser.post("/hosts", data=good | {"os_type": ""}),
    }
    made = await browser.post("/hosts", data=good)
    taken = await browser.post("/hosts", data=good)
    assert made.status_code == 303, made.text
    host_page = made.headers["location"]
    host_id = int(host_page.rsplit("/", 1)[1])
    shown = await browser.get(host_page)
    edit = await browser.get(f"{host_page}/edit")
    edited = await browser.post(
        f"{host_page}/edit",
        data=good
        | {"environment": "", "description": "the web tier", "ssh_key_path": "/etc/keys/web"},
    )
    after = await browser.get(host_page)
    read = (await client.get(f"/hosts/{host_id}", headers=operator.headers)).json()
    moved = await browser.post(
        f"{host_page}/move", data={"csrf_token": token, "status": "decommissioned"}
    )
    stuck = await browser.post(
        f"{host_page}/move", data={"csrf_token": token, "status": "deployed"}
    )
    unknown = await browser.post(f"{host_page}/move", data={"csrf_token": token, "status": "lost"})

    assert form.status_code == 200
    assert {why: r.status_code for why, r in refused.items()} == {
        "address": 422, "port": 422, "missing": 422,
    }  # fmt: skip
    assert 'value="not-an-ip"' in refused["address"].text  # what was typed stays
    assert 'aria-invalid="true"' in refused["port"].text
    assert taken.status_code == 409
    assert "already exists" in taken.text
    assert "Mark provisioning" in shown.text and "Mark decommissioned" in shown.text  # noqa: PT018
    assert "Mark deployed" not in shown.text  # not a move a new host makes
    assert "rack=r7" in edit.text
    assert edited.status_code == 303, edited.text
    assert "<dd>the web tier</dd>" in after.text
    assert read["ssh_key_path"] is None  # not on an operator's form: what is posted there is left
    assert re.search(r"<dt>Environment</dt><dd>—</dd>", after.text)
    assert moved.status_code == 303
    assert stuck.status_code == 409
    assert unknown.status_code == 422
    assert await audit_trail(engine, made) == [("create", "host")]
    assert await audit_trail(engine, moved) == [("transition", "host")]
    assert f"/hosts/{host_id}/move" in after.text


async def test_a_viewer_gets_no_host_form_and_a_forged_post_is_refused(
    browser: httpx.AsyncClient, viewer: Person
) -> None:
    await sign_in(browser, viewer)
    listed = await browser.get("/hosts")
    token = form_token(listed.text)
    form = await browser.get("/hosts/new")
    forged = await browser.post(
        "/hosts",
        data={
            "csrf_token": token,
            "hostname": unique("x"),
            "ip_address": "192.0.2.1",
            "os_type": "debian",
        },
    )
    no_token = await browser.post("/hosts", data={"hostname": unique("x")})

    assert 'href="/hosts/new"' not in listed.text
    assert form.status_code == 403
    assert forged.status_code == 403
    assert no_token.status_code == 403


async def test_an_admin_adds_rotates_and_deactivates_credentials_never_seeing_a_value(
    browser: httpx.AsyncClient, admin: Person, engine: AsyncEngine
) -> None:
    async with unit_of_work(session_factory(engine)) as session:
        host_id = (await f.make_host(session)).id
    await sign_in(browser, admin)
    page = f"/hosts/{host_id}"
    token = form_token((await browser.get(page)).text)
    secret, newer = "-----BEGIN KEY-----\nfirst-" + unique("k"), "second-" + unique("k")

    empty = await browser.post(
        f"{page}/credentials",
        data={"csrf_token": token, "type": "ssh_key", "username": "deploy", "value": ""},
    )
    bad_type = await browser.post(
        f"{page}/credentials",
        data={"csrf_token": token, "type": "cookie", "username": "deploy", "value": secret},
    )
    added = await browser.post(
        f"{page}/credentials",
        data={"csrf_token": token, "type": "ssh_key", "username": "deploy", "value": secret},
    )
    shown = await browser.get(page)
    first = re.search(r"/credentials/(\d+)/rotate", shown.text)
    assert first is not None, shown.text
    rotated = await browser.post(
        f"{page}/credentials/{first.group(1)}/rotate", data={"csrf_token": token, "value": newer}
    )
    again = await browser.post(
        f"{page}/credentials/{first.group(1)}/rotate", data={"csrf_token": token, "value": newer}
    )
    deactivated = await browser.post(
        f"{page}/credentials/deactivate", data={"csrf_token": token, "type": "ssh_key"}
    )
    after = await browser.get(page)

    assert empty.status_code == 422
    assert bad_type.status_code == 422
    assert secret not in bad_type.text  # a refused value is not shown back
    assert added.status_code == 303, added.text
    assert rotated.status_code == 303
    assert again.status_code == 409  # the old one is inactive now
    assert deactivated.status_code == 303
    assert await audit_trail(engine, rotated) == [
        ("update", "credential"),
        ("create", "credential"),
    ]
    for text in (shown.text, after.text):
        assert secret not in text and newer not in text  # noqa: PT018
    assert "/rotate" not in after.text  # none active: nothing to rotate


async def test_an_operator_sees_no_credentials_and_cannot_add_one(
    browser: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    async with unit_of_work(session_factory(engine)) as session:
        host_id = (await f.make_host(session)).id
    await sign_in(browser, operator)
    page = await browser.get(f"/hosts/{host_id}")
    forged = await browser.post(
        f"/hosts/{host_id}/credentials",
        data={
            "csrf_token": form_token(page.text),
            "type": "password",
            "username": "x",
            "value": "y",
        },
    )
    assert 'id="credentials"' not in page.text
    assert forged.status_code == 403


async def test_an_operator_changes_every_selected_host_after_seeing_how_many(
    browser: httpx.AsyncClient, client: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    environment = unique("bulk")
    for _ in range(3):
        body = {"hostname": unique("b"), "ip_address": "192.0.2.9", "os_type": "debian",
                "environment": environment}  # fmt: skip
        assert (await client.post("/hosts", json=body, headers=operator.headers)).status_code == 201
    await sign_in(browser, operator)
    listed = await browser.get("/hosts", params={"environment": environment})
    assert f"/hosts/bulk?environment={environment}" in listed.text

    chosen = {"environment": environment, "status": "", "tags": "", "change": "status",
              "to_status": "provisioning", "host_role_id": "", "set_tag": ""}  # fmt: skip
    review = await browser.get("/hosts/bulk", params=chosen)
    assert review.status_code == 200
    assert '<strong id="matched">3</strong>' in review.text
    assert "Change 3 host(s)" in review.text
    token = form_token(review.text)

    bad_tag = await browser.get("/hosts/bulk", params=chosen | {"change": "tag", "set_tag": "x"})
    stale = await browser.post("/hosts/bulk", data=chosen | {"expected": "2", "csrf_token": token})
    forged = await browser.post("/hosts/bulk", data=chosen | {"expected": "3"})
    done = await browser.post("/hosts/bulk", data=chosen | {"expected": "3", "csrf_token": token})

    assert bad_tag.status_code == 422
    assert "Change 3 host(s)" not in bad_tag.text
    assert stale.status_code == 409
    assert "not the 2 confirmed" in stale.text
    assert forged.status_code == 403
    assert done.status_code == 303
    assert done.headers["location"].startswith(f"/hosts?environment={environment}")
    assert await audit_trail(engine, done) == [("transition", "host")] * 3
    after = await client.get(
        "/hosts", params={"environment": environment}, headers=operator.headers
    )
    assert {host["status"] for host in after.json()["items"]} == {"provisioning"}


async def test_an_operator_provisions_every_selected_host_after_seeing_how_many(
    browser: httpx.AsyncClient, client: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    environment = unique("fleet")
    async with unit_of_work(session_factory(engine)) as session:
        playbook = await f.make_playbook(session)
        role = await f.make_role(session, default_playbook_id=playbook.id)
        for _ in range(2):
            await f.make_host(session, environment=environment, host_role_id=role.id)
        roleless = await f.make_host(session, environment=environment)
    await sign_in(browser, operator)
    listed = await browser.get(
        "/hosts", params={"environment": environment, "host_role_id": role.id}
    )
    chosen = {"environment": environment, "status": "", "tags": "", "role": str(role.id),
              "change": "provision", "to_status": "", "host_role_id": "", "set_tag": ""}  # fmt: skip
    review = await browser.get("/hosts/bulk", params=chosen)
    token = form_token(review.text)

    too_many = await browser.get("/hosts/bulk", params=chosen | {"forks": "99"})
    stale = await browser.post("/hosts/bulk", data=chosen | {"expected": "3", "csrf_token": token})
    rollout = {"batch_size": "1", "max_fail_percentage": "50", "forks": "2"}
    done = await browser.post(
        "/hosts/bulk", data=chosen | rollout | {"expected": "2", "csrf_token": token}
    )
    after = await client.get(
        "/hosts", params={"environment": environment}, headers=operator.headers
    )
    run = (await client.get(done.headers["location"], headers=operator.headers)).json()

    assert f"role={role.id}" in listed.text  # the list's role filter carries to the bulk page
    assert roleless.hostname not in listed.text
    assert "Provision 2 host(s)" in review.text  # the host of no role is not selected
    assert too_many.status_code == 422
    assert 'id="forks-error"' in too_many.text
    assert 'id="confirm"' not in too_many.text
    assert stale.status_code == 409
    assert "not the 3 confirmed" in stale.text
    assert done.status_code == 303, done.text
    options = run["options"]
    assert (options["batch_size"], options["max_fail_percentage"], options["forks"]) == (1, 50, 2)
    assert run["batches"] == 2
    assert done.headers["location"].startswith("/runs/")  # one playbook: one run
    statuses = {host["hostname"]: host["status"] for host in after.json()["items"]}
    assert statuses.pop(roleless.hostname) == "new"
    assert set(statuses.values()) == {"provisioning"}
    assert ("create", "run") in await audit_trail(engine, done)


HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def confirmation(page: str) -> dict[str, list[str]]:
    """What the bulk page's confirm form posts, as a browser sends it: every hidden field,
    a repeated one with each of its values."""
    fields: dict[str, list[str]] = {}
    for name, value in HIDDEN.findall(page[page.index('id="confirm"') :]):
        fields.setdefault(name, []).append(html.unescape(value))
    return fields


async def host_statuses(engine: AsyncEngine, hosts: list[int]) -> list[str]:
    async with unit_of_work(session_factory(engine)) as session:
        return [(await session.get(Host, host)).status for host in hosts]


async def test_an_operator_changes_the_hosts_ticked_on_the_list(
    browser: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    environment = unique("ticked")
    async with unit_of_work(session_factory(engine)) as session:
        hosts = [await f.make_host(session, environment=environment) for _ in range(3)]
    ids = [host.id for host in hosts]
    await sign_in(browser, operator)
    listed = await browser.get("/hosts", params={"environment": environment})
    ticked = [("host_ids", str(host)) for host in ids[:2]]
    change = {"environment": environment, "change": "status", "to_status": "provisioning"}
    review = await browser.get("/hosts/bulk", params=[*ticked, *change.items()])
    sent = confirmation(review.text)
    done = await browser.post("/hosts/bulk", data=sent)

    for host in hosts:
        assert (
            f'form="ticked" name="host_ids" value="{host.id}" aria-label="Tick {host.hostname}"'
            in listed.text
        )
    assert '<form id="ticked" method="get" action="/hosts/bulk">' in listed.text
    assert f'name="environment" value="{environment}"' in listed.text  # the filter carries
    assert review.status_code == 200, review.text
    assert "among the <strong>2</strong> ticked" in review.text
    assert '<strong id="matched">2</strong>' in review.text
    assert sent["host_ids"] == [str(host) for host in ids[:2]]
    assert sent["expected"] == ["2"]
    assert done.status_code == 303, done.text
    assert done.headers["location"].startswith(f"/hosts?environment={environment}")
    assert await audit_trail(engine, done) == [("transition", "host")] * 2
    assert await host_statuses(engine, ids) == ["provisioning", "provisioning", "new"]


async def test_the_hosts_ticked_that_match_the_filters_are_provisioned(
    browser: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    async with unit_of_work(session_factory(engine)) as session:
        playbook = await f.make_playbook(session)
        role = await f.make_role(session, default_playbook_id=playbook.id)
        hosts = [await f.make_host(session, host_role_id=role.id) for _ in range(3)]
        hosts.append(await f.make_host(session))  # of no role: outside the role filter
    ids = [host.id for host in hosts]
    await sign_in(browser, operator)
    ticked = {"host_ids": [str(ids[0]), str(ids[1]), str(ids[3])], "role": str(role.id)}
    review = await browser.get("/hosts/bulk", params=ticked | {"change": "provision"})
    done = await browser.post("/hosts/bulk", data=confirmation(review.text))

    assert "Provision 2 host(s)" in review.text
    assert done.status_code == 303, done.text
    assert done.headers["location"].startswith("/runs/")
    assert await host_statuses(engine, ids) == ["provisioning", "provisioning", "new", "new"]


async def test_hosts_are_selected_by_every_tag_given_each_value_as_typed(
    browser: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    rack = unique("rack")
    async with unit_of_work(session_factory(engine)) as session:
        both = await f.make_host(session, tags={"rack": rack, "tier": "web,api"})
        rack_only = await f.make_host(session, tags={"rack": rack, "tier": "web"})
        tier_only = await f.make_host(session, tags={"tier": "web,api"})
    await sign_in(browser, operator)
    listed = await browser.get("/hosts", params={"tag": f"rack={rack}"})
    carried = await browser.get("/hosts/bulk", params={"tags": f"rack={rack}"})
    typed = f"rack={rack}\r\ntier=web,api"  # a line each: the value holds a comma
    review = await browser.get(
        "/hosts/bulk", params={"tags": typed, "change": "status", "to_status": "provisioning"}
    )
    sent = confirmation(review.text)
    done = await browser.post("/hosts/bulk", data=sent)

    assert f"tags=rack%3D{rack}" in listed.text  # the list's one tag carries as one of them
    assert '<strong id="matched">2</strong>' in carried.text
    assert f"<strong>rack={rack}</strong> and <strong>tier=web,api</strong>" in review.text
    assert '<strong id="matched">1</strong>' in review.text
    assert sent["tags"] == [f"rack={rack}", "tier=web,api"]
    assert done.status_code == 303, done.text
    assert done.headers["location"].endswith(f"&tag=rack%3D{rack}")
    assert await audit_trail(engine, done) == [("transition", "host")]
    changed = await host_statuses(engine, [both.id, rack_only.id, tier_only.id])
    assert changed == ["provisioning", "new", "new"]


async def test_a_bad_id_or_tag_keeps_the_bulk_page_and_changes_nothing(
    browser: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    async with unit_of_work(session_factory(engine)) as session:
        host = await f.make_host(session)
    await sign_in(browser, operator)
    token = form_token((await browser.get("/hosts/bulk", params={"host_ids": host.id})).text)
    change = {"change": "status", "to_status": "provisioning"}
    bad = {
        "not a number": ([("host_ids", "web1")], "valid integer"),
        "out of range": ([("host_ids", "0")], "greater than or equal to 1"),
        "too many ids": ([("host_ids", str(n)) for n in range(1, 1002)], "at most 1000 items"),
        "too many tags": ([("tags", f"t{n}") for n in range(21)], "at most 20 items"),
        "no key": ([("tags", "=web")], "should match pattern"),
        "unstorable": ([("tags", "a\x00b")], "NUL"),
    }
    shown = {
        why: await browser.get("/hosts/bulk", params=[*fields, *change.items()])
        for why, (fields, _) in bad.items()
    }
    posted = await browser.post(
        "/hosts/bulk",
        data={"host_ids": [str(host.id), "web1"], "expected": "1", "csrf_token": token} | change,
    )

    for why, (_, says) in bad.items():
        page = shown[why]
        assert page.status_code == 422, why
        selection = page.text[page.text.index('id="selection"') : page.text.index("</section>")]
        assert says in selection, why
        assert 'id="confirm"' not in page.text, why
    assert posted.status_code == 422
    assert "selector.host_ids.1: Input should be a valid integer" in posted.text
    assert await audit_trail(engine, posted) == []
    assert await host_statuses(engine, [host.id]) == ["new"]


async def test_a_viewer_gets_no_bulk_change(
    browser: httpx.AsyncClient, viewer: Person, engine: AsyncEngine
) -> None:
    async with unit_of_work(session_factory(engine)) as session:
        host = await f.make_host(session)
    await sign_in(browser, viewer)
    listed = await browser.get("/hosts", params={"hostname": host.hostname})
    assert host.hostname in listed.text
    assert "/hosts/bulk" not in listed.text
    assert 'type="checkbox"' not in listed.text
    assert (await browser.get("/hosts/bulk")).status_code == 403


async def test_an_admin_sets_a_hosts_key_path_and_an_operators_edit_keeps_it(
    browser: httpx.AsyncClient, client: httpx.AsyncClient, operator: Person, admin: Person
) -> None:
    body = {"hostname": unique("keyed"), "ip_address": "192.0.2.9", "os_type": "debian"}
    host = (await client.post("/hosts", json=body, headers=admin.headers)).json()
    form = {"hostname": host["hostname"], "ip_address": "192.0.2.9", "os_type": "debian"}
    page = f"/hosts/{host['id']}/edit"

    await sign_in(browser, admin)
    token = form_token((await browser.get(page)).text)
    keyed = await browser.post(page, data=form | {"csrf_token": token, "ssh_key_path": "/k/web"})
    await sign_in(browser, operator)
    shown = await browser.get(page)
    token = form_token(shown.text)
    edited = await browser.post(page, data=form | {"csrf_token": token, "description": "db"})
    read = (await client.get(f"/hosts/{host['id']}", headers=admin.headers)).json()

    assert keyed.status_code == edited.status_code == 303
    assert 'name="ssh_key_path"' not in shown.text
    assert (read["ssh_key_path"], read["description"]) == ("/k/web", "db")


async def test_a_hosts_tags_keep_their_commas_and_types_when_its_form_is_saved(
    browser: httpx.AsyncClient, client: httpx.AsyncClient, operator: Person
) -> None:
    tags = {"owners": "alice,bob", "rack": 5, "ha": True, "weight": 0.5, "a=b": "c\nd"}
    body = {"hostname": unique("tagged"), "ip_address": "192.0.2.10", "os_type": "debian",
            "tags": tags}  # fmt: skip
    made = await client.post("/hosts", json=body, headers=operator.headers)
    assert made.status_code == 201, made.text
    host = made.json()
    page = f"/hosts/{host['id']}/edit"
    await sign_in(browser, operator)
    shown = await browser.get(page)
    typed = re.search(r'<textarea id="tags" name="tags"[^>]*>([^<]*)</textarea>', shown.text)
    assert typed is not None, shown.text
    form = {"csrf_token": form_token(shown.text), "hostname": body["hostname"],
            "ip_address": "192.0.2.10", "os_type": "debian", "ssh_port": "22"}  # fmt: skip

    as_shown = await browser.post(
        page, data=form | {"tags": html.unescape(typed.group(1)), "description": "db"}
    )
    kept = (await client.get(f"/hosts/{host['id']}", headers=operator.headers)).json()["tags"]
    added = await browser.post(
        page, data=form | {"tags": html.unescape(typed.group(1)) + "\nzone=a,b\nrack=6"}
    )
    changed = (await client.get(f"/hosts/{host['id']}", headers=operator.headers)).json()["tags"]

    assert "Kept as set through the API, which alone changes them: a=b" in shown.text
    assert as_shown.status_code == added.status_code == 303
    assert kept == tags
    assert changed == tags | {"zone": "a,b", "rack": "6"}  # a value typed anew is text


async def test_a_host_is_deactivated_and_an_admin_deletes_one_for_good_unless_it_has_jobs(
    browser: httpx.AsyncClient,
    client: httpx.AsyncClient,
    operator: Person,
    admin: Person,
    engine: AsyncEngine,
) -> None:
    def host_body() -> dict[str, str]:
        return {"hostname": unique("gone"), "ip_address": "192.0.2.8", "os_type": "debian"}

    kept = (await client.post("/hosts", json=host_body(), headers=operator.headers)).json()
    gone = (await client.post("/hosts", json=host_body(), headers=operator.headers)).json()
    async with unit_of_work(session_factory(engine)) as session:
        with_history = (await f.make_job(session)).host_id

    await sign_in(browser, operator)
    token = form_token((await browser.get(f"/hosts/{kept['id']}")).text)
    deactivated = await browser.post(f"/hosts/{kept['id']}/delete", data={"csrf_token": token})
    not_theirs = await browser.post(
        f"/hosts/{gone['id']}/delete", data={"csrf_token": token, "hard": "true"}
    )
    await sign_in(browser, admin)
    page = await browser.get(f"/hosts/{gone['id']}")
    token = form_token(page.text)
    mistyped = await browser.post(
        f"/hosts/{gone['id']}/delete",
        data={"csrf_token": token, "hard": "true", "confirm": kept["hostname"]},
    )
    purged = await browser.post(
        f"/hosts/{gone['id']}/delete",
        data={"csrf_token": token, "hard": "true", "confirm": gone["hostname"].upper()},
    )
    history_name = (await client.get(f"/hosts/{with_history}", headers=admin.headers)).json()
    refused = await browser.post(
        f"/hosts/{with_history}/delete",
        data={"csrf_token": token, "hard": "true", "confirm": history_name["hostname"]},
    )

    assert "Delete for good" in page.text
    assert 'name="confirm"' in page.text
    assert mistyped.status_code == 422
    assert f"Type {gone['hostname']} to delete this host for good." in mistyped.text
    assert await audit_trail(engine, mistyped) == []
    assert deactivated.status_code == 303
    read = await client.get(f"/hosts/{kept['id']}", headers=operator.headers)
    assert read.json()["is_active"] is False
    assert await audit_trail(engine, deactivated) == [("update", "host")]
    assert not_theirs.status_code == 403
    assert purged.status_code == 303
    assert purged.headers["location"] == "/hosts"
    assert (await client.get(f"/hosts/{gone['id']}", headers=admin.headers)).status_code == 404
    assert refused.status_code == 409
    assert "job history" in refused.text
    inactive = await browser.get(f"/hosts/{kept['id']}")
    activated = await browser.post(f"/hosts/{kept['id']}/activate", data={"csrf_token": token})
    again = await client.get(f"/hosts/{kept['id']}", headers=operator.headers)
    assert "Activate" in inactive.text
    assert activated.status_code == 303
    assert again.json()["is_active"] is True
    assert await audit_trail(engine, activated) == [("update", "host")]


async def test_a_host_marked_failed_says_why(
    browser: httpx.AsyncClient, client: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    async with unit_of_work(session_factory(engine)) as session:
        host = await f.make_host(session, status="provisioning")
    page = f"/hosts/{host.id}"
    await sign_in(browser, operator)
    shown = await browser.get(page)
    token = form_token(shown.text)
    move = {"csrf_token": token, "status": "failed"}

    unstorable = await browser.post(f"{page}/move", data=move | {"error_message": "a\x00b"})
    failed = await browser.post(f"{page}/move", data=move | {"error_message": "disk <full>"})
    after = await browser.get(page)

    assert 'name="error_message"' in shown.text
    assert unstorable.status_code == 422
    assert failed.status_code == 303
    assert "disk &lt;full&gt;" in after.text
    read = await client.get(page, headers=operator.headers)
    assert (read.json()["status"], read.json()["error_message"]) == ("failed", "disk <full>")


async def test_a_host_past_the_forms_lists_is_reached_from_its_own_page(
    browser: httpx.AsyncClient, operator: Person, engine: AsyncEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setattr(forms, "CHOICES", 1)  # a fleet larger than a form's list
    async with unit_of_work(session_factory(engine)) as session:
        await f.make_host(session)
        far = await f.make_host(session)
    await sign_in(browser, operator)

    page = await browser.get(f"/hosts/{far.id}")
    job_form = await browser.get(f"/jobs/new?host_id={far.id}")
    alert_form = await browser.get(f"/alerts/new?host_id={far.id}")
    plain = await browser.get("/jobs/new")
    nowhere = await browser.get("/jobs/new?host_id=2000000000")

    assert f'href="/jobs/new?host_id={far.id}"' in page.text
    assert f'href="/alerts/new?host_id={far.id}"' in page.text
    chosen = f'<option value="{far.id}" selected>{far.hostname}</option>'
    assert chosen in job_form.text
    assert chosen in alert_form.text
    assert far.hostname not in plain.text  # only the first host: the list is that short
    assert nowhere.status_code == 200  # the form, naming no host
