"""Console pages for templates and runs over real HTTP: a template made, refused, edited
and deleted through its form; a launch form generated from the prompts that refuses bad
values by prompt and never shows a secret; a run's host table and task matrix, its live
part, cancel and relaunch. (tests/web/test_browser.py runs them in Chromium over a real
fleet.)"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.db.session import session_factory, unit_of_work
from opsledger.jobs.models import JobTask
from opsledger.models import Host, JobTemplate, Run
from opsledger.web import job_templates as web_templates
from tests import factories as f
from tests.api import Person, audit_trail
from tests.web.pages import form_token, sign_in

SECRET = "launch-secret-marker-5d1c"
PROMPTS = """\
- name: version
  type: text
  required: true
  pattern: "[0-9]+\\\\.[0-9]+"
- name: count
  type: integer
  min: 1
  max: 5
  default: 2
- name: reboot
  type: boolean
  default: false
- name: flavour
  type: choice
  choices: [vanilla, chocolate]
- name: where
  type: multi_choice
  choices_from: "tag:{tag}"
- name: token
  type: secret
"""


async def make_fleet(
    client: httpx.AsyncClient, admin: Person, engine: AsyncEngine
) -> dict[str, Any]:
    """A real playbook and two hosts in service tagged for one selector."""
    tag = f.unique("site")
    made = await client.post(
        "/playbooks",
        json={"name": f.unique("console fleet"), "content": "- hosts: all\n  tasks: []\n"},
        headers=admin.headers,
    )
    assert made.status_code == 201, made.text
    async with unit_of_work(session_factory(engine)) as session:
        hosts = [
            await f.make_host(session, hostname=f.unique(name), tags={tag: name}, environment=tag)
            for name in ("north", "south")
        ]
    return {"playbook": made.json()["id"], "tag": tag, "hosts": [host.id for host in hosts]}


async def fleet_form(
    browser: httpx.AsyncClient, client: httpx.AsyncClient, admin: Person, operator: Person,
    engine: AsyncEngine,
) -> tuple[dict[str, Any], str]:  # fmt: skip
    """A fleet (make_fleet), and the operator signed in with a form token."""
    fleet = await make_fleet(client, admin, engine)
    await sign_in(browser, operator)
    return fleet, form_token((await browser.get("/templates/new")).text)


def template_form(fleet: dict[str, Any], token: str, **fields: str) -> dict[str, str]:
    return {
        "csrf_token": token,
        "name": f.unique("console template"),
        "playbook_id": str(fleet["playbook"]),
        "tags": fleet["tag"],
        "forks": "10",
        "max_fail_percentage": "0",
        "verbosity": "0",
        "prompts": PROMPTS.replace("{tag}", fleet["tag"]),
    } | fields


async def console_template(
    browser: httpx.AsyncClient, fleet: dict[str, Any], token: str, **fields: str
) -> str:
    """A template made through the console's form (template_form); its page's path."""
    made = await browser.post("/templates", data=template_form(fleet, token, **fields))
    assert made.status_code == 303, made.text
    return str(made.headers["location"])


async def count(engine: AsyncEngine, model: type[Any]) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(model)) or 0)


async def test_a_template_is_made_refused_edited_and_deleted_through_its_form(
    browser: httpx.AsyncClient, client: httpx.AsyncClient, admin: Person, operator: Person,
    engine: AsyncEngine,
) -> None:  # fmt: skip
    fleet, token = await fleet_form(browser, client, admin, operator, engine)
    before = await count(engine, JobTemplate)

    refusals = {
        "prompts": ("- name: x\n  type: text\n  pattern: '(a+)+'", "nest a repetition"),
        "extra_vars": ("[1, 2]", "must be a mapping"),
        "tags": ("=oops", "tags"),
        "forks": ("99", "less than or equal to 50"),
        "playbook_id": ("999999", "playbook 999999 does not exist"),
        "job_tags": ("a, b", ""),
    }
    for field, (value, message) in refusals.items():
        sent = template_form(fleet, token, **{field: value})
        if field == "job_tags":
            sent["skip_tags"] = "b"
            message = "both run and skipped: b"
        refused = await browser.post("/templates", data=sent)
        assert refused.status_code == 422, (field, refused.text)
        assert message in refused.text, field
        assert value.split("\n")[0] in refused.text  # what was typed is kept
    assert await count(engine, JobTemplate) == before

    sent = template_form(fleet, token, batch_size="1", extra_vars="release: stable")
    created = await browser.post("/templates", data=sent)
    assert created.status_code == 303, created.text
    template_id = int(created.headers["location"].rsplit("/", 1)[1])
    assert await audit_trail(engine, created) == [("create", "job_template")]
    taken = await browser.post("/templates", data=template_form(fleet, token, name=sent["name"]))
    assert taken.status_code == 409
    assert "already exists" in taken.text

    edit = await browser.get(f"/templates/{template_id}/edit")
    assert edit.status_code == 200
    assert 'value="1"' in edit.text  # the batch size as stored
    assert "release: stable" in edit.text
    edited = await browser.post(
        f"/templates/{template_id}",
        data=template_form(fleet, token, name=sent["name"], batch_size="", check="on"),
    )
    assert edited.status_code == 303, edited.text
    assert await audit_trail(engine, edited) == [("update", "job_template")]
    async with unit_of_work(session_factory(engine)) as session:
        template = await session.get(JobTemplate, template_id)
        assert template is not None
        assert (template.batch_size, template.check, template.extra_vars) == (None, True, None)
        assert next(prompt["name"] for prompt in template.prompts or ()) == "version"

    deleted = await browser.post(f"/templates/{template_id}/delete", data={"csrf_token": token})
    assert deleted.status_code == 303
    assert await audit_trail(engine, deleted) == [("delete", "job_template")]
    assert (await browser.get(f"/templates/{template_id}")).status_code == 404


async def test_the_launch_form_follows_the_prompts_and_refuses_by_prompt(
    browser: httpx.AsyncClient, client: httpx.AsyncClient, admin: Person, operator: Person,
    engine: AsyncEngine,
) -> None:  # fmt: skip
    fleet, token = await fleet_form(browser, client, admin, operator, engine)
    created = await browser.post("/templates", data=template_form(fleet, token))
    url = created.headers["location"]

    page = (await browser.get(url)).text
    assert re.search(
        r'<input id="prompt-count" name="prompt.count" type="number"[^>]*min="1" max="5" value="2"',
        page,
    )
    assert re.search(r'<input id="prompt-token" name="prompt.token" type="password"', page)
    assert '<option value="chocolate"' in page
    # Inventory choices: the values the tag has on hosts in service now.
    assert 'name="prompt.where" value="north"' in page
    assert 'name="prompt.where" value="south"' in page
    assert "2 match now" in page

    runs_before = await count(engine, Run)
    base = {"csrf_token": token, "prompt.version": "1.2", "prompt.token": SECRET}
    refused = await browser.post(
        f"{url}/launch",
        data=base | {"prompt.version": "one", "prompt.count": "9", "prompt.where": "west"},
    )
    assert refused.status_code == 422
    for message in ("must match", "must be at most 5", "each must be one of: north, south"):
        assert message in refused.text
    assert 'value="one"' in refused.text  # what was typed is kept …
    assert SECRET not in refused.text  # … but never a secret
    assert await count(engine, Run) == runs_before

    launched = await browser.post(
        f"{url}/launch",
        data={**base, "prompt.where": ["north", "south"], "prompt.reboot": "true",
              "limit_host_ids": str(fleet["hosts"][0]), "diff": "on"},
    )  # fmt: skip
    assert launched.status_code == 303, launched.text
    run_id = int(launched.headers["location"].rsplit("/", 1)[1])
    async with unit_of_work(session_factory(engine)) as session:
        run = await session.get(Run, run_id)
        assert run is not None
        assert run.host_ids == [fleet["hosts"][0]]
        assert run.options["diff"] is True
        assert run.extra_vars == {
            "version": "1.2", "count": 2, "reboot": True, "where": ["north", "south"],
            "token": "********",
        }  # fmt: skip
        assert run.user_id == operator.id
    for path in (url, launched.headers["location"], "/runs", "/audit"):
        assert SECRET not in (await browser.get(path)).text, path


async def test_a_run_page_shows_hosts_tasks_and_moves_on(
    browser: httpx.AsyncClient, client: httpx.AsyncClient, admin: Person, operator: Person,
    viewer: Person, engine: AsyncEngine,
) -> None:  # fmt: skip
    fleet = await make_fleet(client, admin, engine)
    body = {"playbook_id": fleet["playbook"], "selector": {"tags": [fleet["tag"]]}}
    launched = await client.post("/runs", json=body, headers=operator.headers)
    assert launched.status_code == 202, launched.text
    run = launched.json()
    hosts = (await client.get(f"/runs/{run['id']}/hosts", headers=operator.headers)).json()
    first, second = (item["job_id"] for item in hosts["items"])
    cells = [
        (first, 0, "install packages", "ok", True),
        (first, 1, "restart", "ok", False),
        (second, 0, "install packages", "failed", False),
    ]
    async with unit_of_work(session_factory(engine)) as session:
        session.add_all(
            JobTask(job_id=job, position=position, task=task, status=status, changed=changed)
            for job, position, task, status, changed in cells
        )

    await sign_in(browser, viewer)
    page = await browser.get(f"/runs/{run['id']}")
    assert page.status_code == 200
    assert "Cancel run" not in page.text
    assert re.search(r'class="cell cell-changed" data-task="install packages"', page.text)
    assert re.search(r'class="cell cell-failed" data-task="install packages"', page.text)
    assert 'data-task="restart"' in page.text
    live = await browser.get(f"/runs/{run['id']}/live")
    assert live.status_code == 200
    assert "<html" not in live.text
    assert 'id="run-state"' in live.text
    forged = await browser.post(
        f"/runs/{run['id']}/cancel", data={"csrf_token": form_token(page.text)}
    )
    assert forged.status_code == 403
    listing = await browser.get("/runs")
    assert f'href="/runs/{run["id"]}"' in listing.text

    await sign_in(browser, operator)
    page = await browser.get(f"/runs/{run['id']}")
    token = form_token(page.text)
    assert "Cancel run" in page.text
    cancelled = await browser.post(f"/runs/{run['id']}/cancel", data={"csrf_token": token})
    again = await browser.post(f"/runs/{run['id']}/cancel", data={"csrf_token": token})
    assert cancelled.status_code == 303
    assert again.status_code == 409
    ended = (await browser.get(f"/runs/{run['id']}")).text
    assert 'data-ended="cancelled"' in ended
    assert "Relaunch on all hosts" in ended

    relaunched = await browser.post(
        f"/runs/{run['id']}/relaunch", data={"csrf_token": token, "hosts": "all"}
    )
    assert relaunched.status_code == 303
    assert await audit_trail(engine, relaunched) == [("create", "run")] + [("create", "job")] * 2
    bad = await browser.post(
        f"/runs/{run['id']}/relaunch", data={"csrf_token": token, "hosts": "some"}
    )
    assert bad.status_code == 422
    missing = await browser.get("/runs/999999999")
    assert missing.status_code == 404


async def test_odd_form_values_are_refused_never_a_server_error(
    browser: httpx.AsyncClient, client: httpx.AsyncClient, admin: Person, operator: Person,
    engine: AsyncEngine,
) -> None:  # fmt: skip
    fleet, token = await fleet_form(browser, client, admin, operator, engine)
    created = await browser.post("/templates", data=template_form(fleet, token))
    url = created.headers["location"]
    templates_before, runs_before = await count(engine, JobTemplate), await count(engine, Run)

    odd_templates: list[dict[str, str]] = [
        {"host_ids": "1, abc"}, {"host_ids": "99999999999999999999"}, {"host_role_id": "x"},
        {"host_role_id": "999999"}, {"status": "bogus"}, {"status": "decommissioned"},
        {"verbosity": "-1"}, {"forks": "1e9"},
        {"batch_size": "0"}, {"timeout_seconds": "abc"}, {"prompts": "- 5"},
        {"prompts": "- name: a\n  type: secret\n  default: x"}, {"prompts": "{a: 1}"},
        {"prompts": "- name: ansible_host\n  type: text"}, {"extra_vars": "ansible_port: 1"},
        {"name": ""}, {"name": "\x00"}, {"playbook_id": ""}, {"job_tags": "-x"},
        {"tags": "a\n" * 30},
    ]  # fmt: skip
    for fields in odd_templates:
        answer = await browser.post("/templates", data=template_form(fleet, token, **fields))
        assert 400 <= answer.status_code < 500, (fields, answer.status_code)
    odd_launches: list[dict[str, Any]] = [
        {"prompt.count": "99999999999999999999"}, {"prompt.count": "1.5"},
        {"limit_host_ids": "abc"}, {"limit_host_ids": "999999"}, {"verbosity": "x"},
        {"extra_vars": "ansible_user: root"}, {"prompt.reboot": "maybe"},
        {"prompt.flavour": "strawberry"}, {"prompt.version": "1." + "1" * 300},
        {"prompt.nothing": "x"}, {"csrf_token": "forged"},
    ]  # fmt: skip
    base = {"csrf_token": token, "prompt.version": "1.2", "prompt.token": SECRET}
    for fields in odd_launches:
        answer = await browser.post(f"{url}/launch", data=base | fields)
        if "prompt.nothing" in fields:  # a field of no prompt is not read
            assert answer.status_code == 303
            continue
        assert 400 <= answer.status_code < 500, (fields, answer.status_code)
        assert SECRET not in answer.text
    assert await count(engine, JobTemplate) == templates_before
    assert await count(engine, Run) == runs_before + 1


async def test_a_freeze_window_shows_on_launch_forms_and_only_an_admin_launches_through_it(
    browser: httpx.AsyncClient, client: httpx.AsyncClient, admin: Person, operator: Person,
    engine: AsyncEngine,
) -> None:  # fmt: skip
    fleet = await make_fleet(client, admin, engine)
    now = datetime.now(UTC)
    window = await client.post(
        "/freeze-windows",
        json={"name": f.unique("year end"), "environments": [fleet["tag"]],
              "starts_at": (now - timedelta(minutes=5)).isoformat(),
              "ends_at": (now + timedelta(hours=1)).isoformat()},
        headers=admin.headers,
    )  # fmt: skip
    assert window.status_code == 201, window.text
    name = window.json()["name"]
    await sign_in(browser, operator)
    token = form_token((await browser.get("/templates/new")).text)
    url = await console_template(browser, fleet, token)
    launch = {"csrf_token": token, "prompt.version": "1.2", "prompt.token": SECRET}
    runs_before = await count(engine, Run)

    page = await browser.get(url)
    assert f"<strong>Frozen:</strong> {name}" in page.text
    assert 'id="override_reason"' not in page.text  # an operator may not override
    assert f"Frozen:</strong> {name}" in (await browser.get("/")).text
    assert f"Frozen:</strong> {name}" in (await browser.get("/jobs/new")).text
    held = await browser.post(f"{url}/launch", data=launch)
    assert held.status_code == 409
    assert f"freeze window {name!r} holds" in held.text.replace("&#39;", "'")
    forced = await browser.post(f"{url}/launch", data=launch | {"override_reason": "hotfix"})
    assert forced.status_code == 403
    assert await count(engine, Run) == runs_before

    await sign_in(browser, admin)
    token = form_token((await browser.get(url)).text)
    assert 'id="override_reason"' in (await browser.get(url)).text
    launched = await browser.post(
        f"{url}/launch", data=launch | {"csrf_token": token, "override_reason": "hotfix 4711"}
    )
    assert launched.status_code == 303, launched.text
    trail = await audit_trail(engine, launched)
    assert ("override", "freeze_window") in trail
    assert ("create", "run") in trail

    run_page = launched.headers["location"]
    async with unit_of_work(session_factory(engine)) as session:
        run_id = int(run_page.rsplit("/", 1)[1])
        await session.execute(update(Run).where(Run.id == run_id).values(status="success"))
    ended = await browser.get(run_page)
    relaunched = await browser.post(
        f"{run_page}/relaunch",
        data={"csrf_token": token, "hosts": "all", "override_reason": "4712"},
    )
    await sign_in(browser, operator)
    token = form_token((await browser.get(run_page)).text)
    refused = await browser.post(f"{run_page}/relaunch", data={"csrf_token": token, "hosts": "all"})
    await sign_in(browser, admin)
    token = form_token((await browser.get(run_page)).text)
    unstorable = await browser.post(
        f"{run_page}/relaunch",
        data={"csrf_token": token, "hosts": "all", "override_reason": "a\x00b"},
    )
    assert unstorable.status_code == 422
    assert 'id="override-all"' in ended.text  # an admin relaunches through the freeze
    assert relaunched.status_code == 303, relaunched.text
    assert ("override", "freeze_window") in await audit_trail(engine, relaunched)
    assert refused.status_code == 409


async def test_a_playbook_runs_ad_hoc_on_the_hosts_a_selector_matches(
    browser: httpx.AsyncClient, client: httpx.AsyncClient, admin: Person, operator: Person,
    engine: AsyncEngine,
) -> None:  # fmt: skip
    fleet = await make_fleet(client, admin, engine)
    await sign_in(browser, operator)
    form = await browser.get("/runs/new")
    token = form_token(form.text)
    chosen = template_form(fleet, token)
    chosen = {name: value for name, value in chosen.items() if name not in ("name", "prompts")}
    runs_before = await count(engine, Run)

    bad_vars = await browser.post("/runs", data=chosen | {"extra_vars": "- a list"})
    started = await browser.post("/runs", data=chosen | {"extra_vars": "version: '1.0'"})
    assert started.status_code == 303, started.text
    run = (await client.get(started.headers["location"], headers=operator.headers)).json()

    assert 'name="name"' not in form.text and 'name="prompts"' not in form.text  # noqa: PT018
    assert bad_vars.status_code == 422
    assert "- a list</textarea>" in bad_vars.text
    assert run["template_id"] is None
    assert run["hosts"] == len(fleet["hosts"])
    assert run["extra_vars"] == {"version": "1.0"}
    assert await count(engine, Run) == runs_before + 1
    assert ("create", "run") in await audit_trail(engine, started)


async def test_a_selector_tag_value_with_a_comma_is_kept(
    browser: httpx.AsyncClient, client: httpx.AsyncClient, admin: Person, operator: Person,
    engine: AsyncEngine,
) -> None:  # fmt: skip
    fleet, token = await fleet_form(browser, client, admin, operator, engine)
    tags = f"{fleet['tag']}\nowners=alice,bob"

    made = await browser.post("/templates", data=template_form(fleet, token, tags=tags))
    read = await client.get(f"/job-templates/{made.headers['location'].rsplit('/', 1)[1]}",
                            headers=operator.headers)  # fmt: skip

    assert made.status_code == 303, made.text
    assert read.json()["selector"]["tags"] == [fleet["tag"], "owners=alice,bob"]


async def test_a_launch_is_limited_to_hosts_named_past_the_list(
    browser: httpx.AsyncClient, client: httpx.AsyncClient, admin: Person, operator: Person,
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setattr(web_templates, "MATCHING_SHOWN", 1)  # the list shows one of two
    fleet, token = await fleet_form(browser, client, admin, operator, engine)
    url = await console_template(browser, fleet, token)
    async with unit_of_work(session_factory(engine)) as session:
        second = await session.get(Host, fleet["hosts"][1])
        assert second is not None
    page = await browser.get(url)
    base = {"csrf_token": token, "prompt.version": "1.2", "prompt.token": SECRET}

    unknown = await browser.post(f"{url}/launch", data=base | {"limit_hostnames": "nowhere-9"})
    launched = await browser.post(f"{url}/launch", data=base | {"limit_hostnames": second.hostname})
    async with unit_of_work(session_factory(engine)) as session:
        run = await session.get(Run, int(launched.headers["location"].rsplit("/", 1)[1]))
        assert run is not None

    assert 'name="limit_hostnames"' in page.text
    assert unknown.status_code == 422
    assert 'id="limit_hostnames-error"' in unknown.text
    assert "nowhere-9" in unknown.text
    assert launched.status_code == 303, launched.text
    assert run.host_ids == [second.id]
