"""The console's notification pages over real HTTP, for admins only: a channel added
from a form (its URL never shown again, a webhook's secret shown once and not kept by
a browser), changed, given a new secret, its default rules, a rule refused beside its
field or paused, a test message, and a dead delivery read with its attempts and sent
again."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from tests.api import Person, audit_trail
from tests.factories import unique
from tests.notifications.conftest import Lab
from tests.notifications.test_dispatch import dead_delivery
from tests.web.pages import ROOT, form_token, sign_in


@pytest.fixture
async def browser(notify_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=notify_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=ROOT) as client:
        yield client


async def test_an_admin_adds_a_channel_tests_it_and_routes_events_to_it(
    browser: httpx.AsyncClient, lab: Lab
) -> None:
    await sign_in(browser, lab.admin)
    token = form_token((await browser.get("/notifications")).text)
    name, path = unique("pager"), f"/{unique('private-path')}"
    form = {"csrf_token": token, "name": name, "kind": "webhook", "url": lab.receiver.url(path)}

    made = await browser.post("/notifications", data=form | {"default_rules": "on"})
    taken = await browser.post("/notifications", data=form)
    no_to = await browser.post("/notifications", data=form | {"name": unique("m"), "kind": "email"})
    secret = re.search(r'<code id="secret"[^>]*>([^<]+)</code>', made.text)
    channel = re.search(r'action="/notifications/channels/(\d+)/test"', made.text)
    assert secret is not None and channel is not None, made.text  # noqa: PT018
    page = f"/notifications/channels/{channel.group(1)}"
    tested = await browser.post(f"{page}/test", data={"csrf_token": token})
    refused_rule = await browser.post(
        f"{page}/rules",
        data={"csrf_token": token, "event": "job.failed", "min_severity": "critical"},
    )
    environment = unique("env")
    ruled = await browser.post(
        f"{page}/rules",
        data={"csrf_token": token, "event": "alert.firing", "environment": environment},
    )
    shown = await browser.get(page)

    assert made.status_code == 201, made.text
    assert made.headers["cache-control"] == "no-store"
    assert path not in made.text + shown.text
    assert secret.group(1) not in shown.text
    assert taken.status_code == 409
    assert no_to.status_code == 422
    assert "email channel needs to" in no_to.text
    assert tested.status_code == 200
    assert "Delivered" in tested.text
    (message,) = lab.receiver.at(path)
    assert message.signed_by(secret.group(1))
    assert refused_rule.status_code == 422
    assert "min_severity filters alert events only" in refused_rule.text
    assert ruled.status_code == 303
    assert shown.text.count("<code>job.failed</code>") == 1  # a default rule
    assert f"environment {environment}" in shown.text


async def test_a_channel_is_made_paused_with_the_secret_typed_and_a_rule_paused(
    browser: httpx.AsyncClient, lab: Lab
) -> None:
    await sign_in(browser, lab.admin)
    token = form_token((await browser.get("/notifications")).text)
    chosen = "typed-signing-secret-" + unique("s")
    form = {"csrf_token": token, "name": unique("quiet"), "kind": "webhook",
            "url": lab.receiver.url("/quiet"), "secret": chosen, "paused": "on"}  # fmt: skip

    made = await browser.post("/notifications", data=form)
    channel_id = made.headers["location"].rsplit("/", 1)[1]
    ruled = await browser.post(
        f"/notifications/channels/{channel_id}/rules",
        data={"csrf_token": token, "event": "job.failed", "paused": "on"},
    )
    channel = (
        await lab.client.get(f"/notification-channels/{channel_id}", headers=lab.admin.headers)
    ).json()
    rules = (
        await lab.client.get(
            "/notification-rules", params={"channel_id": channel_id}, headers=lab.admin.headers
        )
    ).json()["items"]

    assert made.status_code == 303, made.text  # nothing generated: nothing shown
    assert (channel["enabled"], channel["has_secret"]) == (False, True)
    assert ruled.status_code == 303, ruled.text
    assert [rule["enabled"] for rule in rules] == [False]


async def test_a_dead_delivery_is_read_with_its_attempts_and_sent_again(
    browser: httpx.AsyncClient, lab: Lab
) -> None:
    hook, dead = await dead_delivery(lab)
    await sign_in(browser, lab.admin)

    listed = await browser.get(
        "/notifications/deliveries", params={"channel_id": hook["id"], "status": "dead"}
    )
    page = await browser.get(f"/notifications/deliveries/{dead['id']}")
    retried = await browser.post(
        f"/notifications/deliveries/{dead['id']}/retry", data={"csrf_token": form_token(page.text)}
    )
    after = await browser.get(f"/notifications/deliveries/{dead['id']}")
    bad_filter = await browser.get("/notifications/deliveries", params={"status": "lost"})

    assert f'href="/notifications/deliveries/{dead["id"]}"' in listed.text
    assert page.text.count("HTTP 500") == 3  # one row per attempt
    assert "Send again" in page.text
    assert retried.status_code == 303
    assert "pending" in after.text
    assert "Send again" not in after.text
    assert bad_filter.status_code == 422


async def test_an_admin_switches_a_channel_off_and_on_resets_its_rules_and_deletes_it(
    browser: httpx.AsyncClient, lab: Lab
) -> None:
    hook = await lab.channel()
    page = f"/notifications/channels/{hook['id']}"
    await sign_in(browser, lab.admin)
    token = form_token((await browser.get(page)).text)

    off = await browser.post(f"{page}/disable", data={"csrf_token": token})
    while_off = await browser.get(page)
    on = await browser.post(f"{page}/enable", data={"csrf_token": token})
    defaults = await browser.post(f"{page}/defaults", data={"csrf_token": token})
    with_rules = await browser.get(page)
    rule = re.search(r'action="/notifications/rules/(\d+)/delete"', with_rules.text)
    assert rule is not None, with_rules.text
    unruled = await browser.post(
        f"/notifications/rules/{rule.group(1)}/delete", data={"csrf_token": token}
    )
    after_rule = await browser.get(page)
    deleted = await browser.post(f"{page}/delete", data={"csrf_token": token})
    gone = await browser.get(page)

    assert [r.status_code for r in (off, on, defaults, unruled, deleted)] == [303] * 5
    assert "disabled: its deliveries wait" in while_off.text
    assert after_rule.text.count('/delete"') == with_rules.text.count('/delete"') - 1
    assert gone.status_code == 404
    assert await audit_trail(lab.engine, off) == [("update", "notification_channel")]
    assert await audit_trail(lab.engine, on) == [("update", "notification_channel")]
    assert set(await audit_trail(lab.engine, defaults)) == {("create", "notification_rule")}
    assert await audit_trail(lab.engine, unruled) == [("delete", "notification_rule")]
    assert ("delete", "notification_channel") in await audit_trail(lab.engine, deleted)


async def test_an_admin_changes_a_channel_renews_its_secret_and_pauses_a_rule(
    browser: httpx.AsyncClient, lab: Lab
) -> None:
    hook = await lab.channel()
    page = f"/notifications/channels/{hook['id']}"
    await sign_in(browser, lab.admin)
    token = form_token((await browser.get(page)).text)
    await browser.post(f"{page}/defaults", data={"csrf_token": token})
    path, name = f"/{unique('moved')}", unique("renamed")

    not_a_url = await browser.post(page, data={"csrf_token": token, "name": name, "url": "ftp://x"})
    changed = await browser.post(
        page, data={"csrf_token": token, "name": name, "url": lab.receiver.url(path)}
    )
    rotated = await browser.post(f"{page}/rotate", data={"csrf_token": token})
    secret = re.search(r'<code id="secret"[^>]*>([^<]+)</code>', rotated.text)
    assert secret is not None, rotated.text
    tested = await browser.post(f"{page}/test", data={"csrf_token": token})
    rule = re.search(r'action="/notifications/rules/(\d+)/disable"', tested.text)
    assert rule is not None, tested.text
    paused = await browser.post(
        f"/notifications/rules/{rule.group(1)}/disable", data={"csrf_token": token}
    )
    after = await browser.get(page)

    assert not_a_url.status_code == 422
    assert f'value="{name}"' in not_a_url.text  # the name typed stays; the URL is never shown
    assert changed.status_code == paused.status_code == 303
    assert rotated.headers["cache-control"] == "no-store"
    (message,) = lab.receiver.at(path)  # the test message went to the new URL, newly signed
    assert message.signed_by(secret.group(1))
    assert f"<h1>Channel {name}</h1>" in after.text
    assert f'action="/notifications/rules/{rule.group(1)}/enable"' in after.text
    assert path not in after.text and secret.group(1) not in after.text  # noqa: PT018
    assert await audit_trail(lab.engine, changed) == [("update", "notification_channel")]
    assert await audit_trail(lab.engine, rotated) == [("update", "notification_channel")]
    assert await audit_trail(lab.engine, paused) == [("update", "notification_rule")]


async def test_an_admin_changes_a_rules_filters_on_its_page(
    browser: httpx.AsyncClient, lab: Lab
) -> None:
    hook = await lab.channel()
    environment = unique("env")
    alerting = await lab.rule(hook, "alert.firing")
    jobs = await lab.rule(hook, "job.failed")
    await sign_in(browser, lab.admin)
    page = f"/notifications/rules/{alerting['id']}"
    shown = await browser.get(page)
    token = form_token(shown.text)
    filters = {"csrf_token": token, "min_priority": "", "min_severity": "critical",
               "environment": environment, "template_id": ""}  # fmt: skip

    refused = await browser.post(f"/notifications/rules/{jobs['id']}", data=filters)
    changed = await browser.post(page, data=filters)
    channel = await browser.get(f"/notifications/channels/{hook['id']}")

    assert shown.status_code == 200
    assert refused.status_code == 422
    assert "min_severity filters alert events only" in refused.text
    assert f'value="{environment}"' in refused.text  # what was typed stays
    assert changed.status_code == 303
    assert changed.headers["location"] == f"/notifications/channels/{hook['id']}#rules"
    assert f"environment {environment}" in channel.text
    assert await audit_trail(lab.engine, changed) == [("update", "notification_rule")]
    assert await audit_trail(lab.engine, refused) == []


async def test_only_admins_see_notifications(browser: httpx.AsyncClient, operator: Person) -> None:
    await sign_in(browser, operator)
    overview = await browser.get("/")
    assert 'href="/notifications"' not in overview.text
    assert (await browser.get("/notifications")).status_code == 403
    assert (await browser.get("/notifications/deliveries")).status_code == 403
