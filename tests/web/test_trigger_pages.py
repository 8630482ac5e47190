"""Console pages for triggers over real HTTP: one made for a template from a form (its
secret shown once, on the answering page only, not kept by a browser), refusals beside
their fields keeping what was typed, the trigger's page with its deliveries, rotating
the secret, changing and pausing it (its URL and secret kept) and deleting it, each
audited; only its owner or an admin changes it."""

from __future__ import annotations

import json
import re

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.models import Trigger
from opsledger.users.models import UserRole
from tests import factories as f
from tests.api import Person, audit_trail, make_person
from tests.triggers.test_triggers import github, make_template
from tests.web.pages import form_token, sign_in
from tests.web.test_fleet_pages import count


def secret_on(page: str) -> str:
    found = re.search(r'<code id="secret"[^>]*>([^<]+)</code>', page)
    assert found is not None, page
    return found.group(1)


async def test_a_trigger_is_made_from_a_template_page_and_its_secret_shown_once(
    browser: httpx.AsyncClient, client: httpx.AsyncClient, operator: Person, admin: Person,
    engine: AsyncEngine,
) -> None:  # fmt: skip
    template_id, _ = await make_template(engine)
    await sign_in(browser, operator)
    assert "Add a trigger" in (await browser.get(f"/templates/{template_id}")).text
    form = f"/templates/{template_id}/trigger"
    token = form_token((await browser.get(form)).text)
    name = f.unique("release")
    good = {
        "csrf_token": token,
        "name": name,
        "prompts": "version=/release/tag_name\nreplicas=/release/assets/0/count",
        "alert_matchers": "alertname=ReleaseStuck",
        "rate_per_minute": "5",
    }
    before = await count(engine, Trigger)

    refused = {
        "no such prompt": await browser.post(form, data=good | {"prompts": "nope=/a"}),
        "not a pointer": await browser.post(form, data=good | {"prompts": "version=a/b"}),
        "bad matcher": await browser.post(form, data=good | {"alert_matchers": "=x"}),
        "rate": await browser.post(form, data=good | {"rate_per_minute": "100000"}),
    }
    made = await browser.post(form, data=good)
    again = await browser.post(form, data=good)

    assert {why: r.status_code for why, r in refused.items()} == {
        "no such prompt": 422, "not a pointer": 422, "bad matcher": 422, "rate": 422,
    }  # fmt: skip
    assert "nope" in refused["no such prompt"].text
    assert "version=a/b" in refused["not a pointer"].text  # what was typed stays
    assert made.status_code == 201, made.text
    assert again.status_code == 409
    assert await count(engine, Trigger) == before + 1
    assert await audit_trail(engine, made) == [("create", "trigger")]
    assert made.headers["cache-control"] == "no-store"
    secret = secret_on(made.text)
    trigger_id = re.search(r'href="/triggers/(\d+)"', made.text)
    assert trigger_id is not None
    url = f"/triggers/{trigger_id.group(1)}"
    body = json.dumps({"release": {"tag_name": "1.1", "assets": [{"count": 3}]}}).encode()
    delivered = await client.post(
        f"/hooks/{trigger_id.group(1)}", content=body, headers=github(secret, body, "d-1")
    )
    assert delivered.status_code == 202, delivered.text
    shown = await browser.get(url)
    assert "launched" in shown.text
    assert "<code>alertname=ReleaseStuck</code>" in shown.text
    assert secret not in shown.text
    assert secret not in (await browser.get("/triggers", params={"name": name})).text

    await sign_in(browser, await make_person(engine, UserRole.operator))  # not its owner
    other = form_token((await browser.get(url)).text)
    stolen = await browser.post(f"{url}/rotate", data={"csrf_token": other})
    kept = await browser.post(f"{url}/delete", data={"csrf_token": other})
    assert (stolen.status_code, kept.status_code) == (403, 403)
    assert "ReleaseStuck" not in stolen.text

    await sign_in(browser, admin)
    token = form_token((await browser.get(url)).text)
    rotated = await browser.post(f"{url}/rotate", data={"csrf_token": token})
    assert rotated.status_code == 200
    assert secret_on(rotated.text) != secret
    assert await audit_trail(engine, rotated) == [("rotate", "trigger")]
    stale = await client.post(
        f"/hooks/{trigger_id.group(1)}", content=body, headers=github(secret, body, "d-2")
    )
    assert stale.status_code == 401
    deleted = await browser.post(f"{url}/delete", data={"csrf_token": token})
    assert deleted.headers["location"] == "/triggers"
    assert await audit_trail(engine, deleted) == [("delete", "trigger")]
    assert (await browser.get(url)).status_code == 404


async def test_a_trigger_is_changed_and_paused_keeping_its_url_and_secret(
    browser: httpx.AsyncClient, client: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    template_id, _ = await make_template(engine)
    await sign_in(browser, operator)
    form = f"/templates/{template_id}/trigger"
    token = form_token((await browser.get(form)).text)
    made = await browser.post(
        form, data={"csrf_token": token, "name": f.unique("hook"), "rate_per_minute": "5"}
    )
    secret = secret_on(made.text)
    found = re.search(r'href="/triggers/(\d+)"', made.text)
    assert found is not None
    url, hook = f"/triggers/{found.group(1)}", f"/hooks/{found.group(1)}"
    shown = await browser.get(url)
    typed = {"csrf_token": token, "name": f.unique("renamed"),
             "prompts": "version=/release/tag_name\nreplicas=/release/assets/0/count",
             "alert_matchers": "alertname=DiskFull", "rate_per_minute": "20"}  # fmt: skip

    too_fast = await browser.post(url, data=typed | {"rate_per_minute": "100000"})
    changed = await browser.post(url, data=typed)
    paused = await browser.post(f"{url}/disable", data={"csrf_token": token})
    body = json.dumps({"release": {"tag_name": "1.0", "assets": [{"count": 2}]}}).encode()
    while_paused = await client.post(hook, content=body, headers=github(secret, body, "p-1"))
    resumed = await browser.post(f"{url}/enable", data={"csrf_token": token})
    after = await client.post(hook, content=body, headers=github(secret, body, "p-2"))
    page = await browser.get(url)

    assert 'value="5"' in shown.text  # the form shows the trigger as it is
    assert too_fast.status_code == 422
    assert 'value="100000"' in too_fast.text
    assert "alertname=DiskFull</textarea>" in too_fast.text
    assert changed.status_code == paused.status_code == resumed.status_code == 303
    assert await audit_trail(engine, changed) == [("update", "trigger")]
    assert await audit_trail(engine, too_fast) == []
    assert while_paused.status_code != 202
    assert after.status_code == 202, after.text  # the same URL and secret still work
    assert "<code>alertname=DiskFull</code>" in page.text
    assert "20 launches a minute" in page.text


async def test_a_trigger_saved_as_shown_keeps_a_matcher_value_with_a_comma(
    browser: httpx.AsyncClient, client: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    template_id, _ = await make_template(engine)
    made = await client.post(
        "/triggers",
        json={"name": f.unique("commas"), "template_id": template_id,
              "alert_matchers": {"service": "api,web"}},
        headers=operator.headers,
    )  # fmt: skip
    assert made.status_code == 201, made.text
    url = f"/triggers/{made.json()['id']}"
    await sign_in(browser, operator)
    shown = await browser.get(url)
    typed = {"csrf_token": form_token(shown.text), "name": made.json()["name"], "prompts": "",
             "alert_matchers": "service=api,web", "rate_per_minute": "10"}  # fmt: skip

    saved = await browser.post(url, data=typed)

    assert "service=api,web</textarea>" in shown.text
    assert saved.status_code == 303, saved.text
    read = await client.get(url, headers=operator.headers)
    assert read.json()["alert_matchers"] == {"service": "api,web"}


async def test_a_trigger_and_a_schedule_are_made_paused(
    browser: httpx.AsyncClient, client: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    template_id, _ = await make_template(engine)
    await sign_in(browser, operator)
    token = form_token((await browser.get(f"/templates/{template_id}/trigger")).text)

    trigger = await browser.post(
        f"/templates/{template_id}/trigger",
        data={"csrf_token": token, "name": f.unique("paused"), "rate_per_minute": "10",
              "paused": "on", "prompts": "version=/v"},
    )  # fmt: skip
    schedule = await browser.post(
        f"/templates/{template_id}/schedule",
        data={"csrf_token": token, "name": f.unique("paused"), "cron": "0 3 * * *",
              "timezone": "UTC", "missed": "skip", "overlap": "skip", "paused": "on",
              "prompt.version": "1.1"},
    )  # fmt: skip
    trigger_id = re.search(r"/triggers/(\d+)", trigger.text)
    assert trigger_id is not None, trigger.text
    read_trigger = await client.get(f"/triggers/{trigger_id.group(1)}", headers=operator.headers)
    read_schedule = await client.get(schedule.headers["location"], headers=operator.headers)

    assert trigger.status_code == 201, trigger.text
    assert schedule.status_code == 303, schedule.text
    assert read_trigger.json()["enabled"] is False
    assert (read_schedule.json()["enabled"], read_schedule.json()["next_run_at"]) == (False, None)
