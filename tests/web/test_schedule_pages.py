"""Console pages for schedules over real HTTP: a template scheduled from a form built from
its prompts (cron in a zone, or once), refusals beside their fields, the next times in the
zone and UTC, when it runs changed, and enable, disable and delete, each audited."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.db.session import session_factory, unit_of_work
from opsledger.models import Schedule
from opsledger.users.models import UserRole
from opsledger.web import schedules as web_schedules
from opsledger.web import triggers as web_triggers
from tests import factories as f
from tests.api import Person, audit_trail, make_person
from tests.web.pages import form_token, sign_in
from tests.web.test_fleet_pages import SECRET, console_template, count, fleet_form


async def test_a_template_is_scheduled_from_its_page_and_the_schedule_moves_on(
    browser: httpx.AsyncClient, client: httpx.AsyncClient, admin: Person, operator: Person,
    viewer: Person, engine: AsyncEngine,
) -> None:  # fmt: skip
    fleet, token = await fleet_form(browser, client, admin, operator, engine)
    template = await console_template(browser, fleet, token)
    page = await browser.get(template)
    assert f'href="{template}/schedule"' in page.text
    form = await browser.get(f"{template}/schedule")
    assert form.status_code == 200
    assert 'name="prompt.version"' in form.text
    before = await count(engine, Schedule)

    base = {
        "csrf_token": token, "name": f.unique("nightly"), "timezone": "Europe/Berlin",
        "missed": "skip", "overlap": "queue", "prompt.version": "1.2", "prompt.token": SECRET,
    }  # fmt: skip
    refusals = [
        ({"cron": "61 * * * *"}, "cron"),
        ({"cron": "30 2 * * *", "timezone": "Mars/Olympus"}, "Mars/Olympus"),
        ({"cron": "30 2 * * *", "run_at": "2030-01-01T02:30"}, "exactly one of cron and run_at"),
        ({"run_at": "2001-01-01T02:30"}, "lies in the past"),
        ({"cron": "30 2 * * *", "prompt.version": "one"}, "must match"),
        ({"cron": "30 2 * * *", "overlap": "sometimes"}, "overlap"),
    ]
    for fields, message in refusals:
        refused = await browser.post(f"{template}/schedule", data=base | fields)
        assert refused.status_code == 422, (fields, refused.text)
        assert message in refused.text, fields
        assert SECRET not in refused.text
    assert await count(engine, Schedule) == before

    created = await browser.post(f"{template}/schedule", data=base | {"cron": "30 2 * * *"})
    assert created.status_code == 303, created.text
    assert await audit_trail(engine, created) == [("create", "schedule")]
    url = created.headers["location"]
    shown = (await browser.get(url)).text
    assert "<code>30 2 * * *</code> in Europe/Berlin" in shown
    assert shown.count(" 02:30 CE") == 10  # ten next times in Berlin (CET or CEST) …
    assert "01:30</td>" in shown or "00:30</td>" in shown  # … and in UTC
    assert SECRET not in shown
    once = await browser.post(
        f"{template}/schedule",
        data=base | {"name": f.unique("once"), "run_at": "2030-06-01T09:15"},
    )
    assert once.status_code == 303, once.text
    assert "once, at 2030-06-01 09:15 CEST" in (await browser.get(once.headers["location"])).text

    await sign_in(browser, viewer)
    viewed = await browser.get(url)
    assert viewed.status_code == 200
    assert "Disable" not in viewed.text
    assert (await browser.get(f"{template}/schedule")).status_code == 403
    forged = await browser.post(f"{url}/disable", data={"csrf_token": form_token(viewed.text)})
    assert forged.status_code == 403

    await sign_in(browser, operator)  # a new session: a new form token
    token = form_token((await browser.get(url)).text)
    disabled = await browser.post(f"{url}/disable", data={"csrf_token": token})
    assert disabled.status_code == 303
    assert await audit_trail(engine, disabled) == [("disable", "schedule")]
    assert "None: the schedule is disabled." in (await browser.get(url)).text
    enabled = await browser.post(f"{url}/enable", data={"csrf_token": token})
    assert await audit_trail(engine, enabled) == [("enable", "schedule")]
    assert (await browser.post(f"{url}/pause", data={"csrf_token": token})).status_code == 404
    listed = await browser.get("/schedules", params={"name": base["name"]})
    assert f'href="{url}"' in listed.text

    await sign_in(browser, await make_person(engine, UserRole.operator))  # not its owner
    other = form_token((await browser.get(url)).text)
    stopped = await browser.post(f"{url}/disable", data={"csrf_token": other})
    not_started = await browser.post(f"{url}/enable", data={"csrf_token": other})
    assert stopped.status_code == 303  # anyone who may write it may stop it …
    assert not_started.status_code == 403  # … only its owner or an admin starts it
    assert "only they or an admin" in not_started.text

    await sign_in(browser, operator)
    token = form_token((await browser.get(url)).text)
    deleted = await browser.post(f"{url}/delete", data={"csrf_token": token})
    assert deleted.headers["location"] == "/schedules"
    assert await audit_trail(engine, deleted) == [("delete", "schedule")]
    assert (await browser.get(url)).status_code == 404


async def test_when_a_schedule_runs_is_changed_on_its_page(
    browser: httpx.AsyncClient, client: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    async with unit_of_work(session_factory(engine)) as session:
        schedule = await f.make_schedule(session, user_id=operator.id, timezone="UTC")
    url = f"/schedules/{schedule.id}"
    await sign_in(browser, operator)
    shown = await browser.get(url)
    timing = {"csrf_token": form_token(shown.text), "name": schedule.name, "missed": "skip",
              "overlap": "skip", "timezone": "Europe/Berlin"}  # fmt: skip

    bad = await browser.post(url, data=timing | {"cron": "61 * * * *"})
    neither = await browser.post(url, data=timing)
    weekdays = await browser.post(url, data=timing | {"cron": "30 2 * * 1-5"})
    recurring = (await client.get(url, headers=operator.headers)).json()
    once = await browser.post(url, data=timing | {"run_at": "2031-06-01T09:00"})
    single = (await client.get(url, headers=operator.headers)).json()

    assert 'value="0 3 * * *"' in shown.text  # the form shows when it runs now
    assert bad.status_code == 422
    assert 'value="61 * * * *"' in bad.text and 'id="cron-error"' in bad.text  # noqa: PT018
    assert neither.status_code == 422
    assert "a time to run once" in neither.text
    assert weekdays.status_code == once.status_code == 303
    assert (recurring["cron"], recurring["timezone"]) == ("30 2 * * 1-5", "Europe/Berlin")
    assert (single["cron"], single["run_at"]) == (None, "2031-06-01T07:00:00Z")
    assert await audit_trail(engine, weekdays) == [("update", "schedule")]
    assert await audit_trail(engine, bad) == await audit_trail(engine, neither) == []


async def test_a_schedule_saved_as_shown_keeps_its_times_and_a_far_one_still_shows(
    browser: httpx.AsyncClient, client: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    async with unit_of_work(session_factory(engine)) as session:
        fired = await f.make_schedule(
            session, user_id=operator.id, cron=None, timezone="Europe/Berlin",
            run_at=datetime(2021, 1, 1, 9, 0, 45, tzinfo=UTC),
        )  # fmt: skip
        far = await f.make_schedule(
            session, user_id=operator.id, timezone="Asia/Tokyo",
            ends_at=datetime(9999, 12, 31, 23, tzinfo=UTC),
        )  # fmt: skip
    await sign_in(browser, operator)
    url = f"/schedules/{fired.id}"
    shown = await browser.get(url)
    token = form_token(shown.text)
    renamed = {"csrf_token": token, "name": f.unique("renamed"), "cron": "",
               "run_at": "2021-01-01T10:00", "timezone": "Europe/Berlin", "ends_at": "",
               "missed": "skip", "overlap": "skip"}  # fmt: skip

    saved = await browser.post(url, data=renamed)  # as shown, but for its name
    read = (await client.get(url, headers=operator.headers)).json()

    assert saved.status_code == 303, saved.text  # its past time, not sent again, stands
    assert (read["name"], read["run_at"]) == (renamed["name"], "2021-01-01T09:00:45Z")
    assert (await browser.get(f"/schedules/{far.id}")).status_code == 200


async def nightly(browser: httpx.AsyncClient, template: str, token: str) -> str:
    """A schedule of the console template (version 1.2, the secret token) made through
    its form; its page's path."""
    made = await browser.post(
        f"{template}/schedule",
        data={"csrf_token": token, "name": f.unique("nightly"), "cron": "30 2 * * *",
              "timezone": "UTC", "missed": "skip", "overlap": "skip",
              "prompt.version": "1.2", "prompt.token": SECRET},
    )  # fmt: skip
    assert made.status_code == 303, made.text
    return str(made.headers["location"])


async def test_what_a_schedule_runs_with_is_changed_on_its_page(
    browser: httpx.AsyncClient, client: httpx.AsyncClient, admin: Person, operator: Person,
    viewer: Person, engine: AsyncEngine,
) -> None:  # fmt: skip
    fleet, token = await fleet_form(browser, client, admin, operator, engine)
    template = await console_template(browser, fleet, token)
    url = await nightly(browser, template, token)
    shown = (await browser.get(url)).text
    values = {"csrf_token": token, "prompt.version": "2.0", "prompt.count": "3",
              "prompt.token": "", "extra_vars": "a: 1", "check": "on", "verbosity": "2",
              "limit_host_ids": str(fleet["hosts"][0])}  # fmt: skip

    refused = {
        field: await browser.post(f"{url}/values", data=values | {field: value})
        for field, value in {"prompt.version": "two", "extra_vars": "[1, 2]",
                             "limit_host_ids": "0"}.items()
    }  # fmt: skip
    saved = await browser.post(f"{url}/values", data=values)
    read = (await client.get(url, headers=operator.headers)).json()
    async with unit_of_work(session_factory(engine)) as session:
        schedule = await session.get(Schedule, int(url.rsplit("/", 1)[1]))
        assert schedule is not None
        secret_kept = schedule.secret_prompts
    again = (await browser.get(url)).text
    renewed = await browser.post(f"{url}/values", data=values | {"prompt.token": "renewed-1"})
    async with unit_of_work(session_factory(engine)) as session:
        schedule = await session.get(Schedule, schedule.id)
        assert schedule is not None
        secret_renewed = schedule.secret_prompts
    await browser.post(f"{url}/values", data=values | {"follow": "on"})
    followed = (await client.get(url, headers=operator.headers)).json()
    await sign_in(browser, viewer)
    viewed = await browser.get(url)

    assert 'name="prompt.version" value="1.2"' in shown  # the values it keeps, shown …
    assert "A value is stored: left blank, it is kept." in shown  # … a secret's never
    assert SECRET not in shown
    for field, answer in refused.items():
        assert answer.status_code == 422, (field, answer.text)
        assert 'class="error"' in answer.text, field
        assert 'value="3"' in answer.text, field  # as typed
        assert await audit_trail(engine, answer) == []
    assert "must match" in refused["prompt.version"].text
    assert "must be a mapping" in refused["extra_vars"].text
    assert saved.status_code == 303, saved.text
    assert await audit_trail(engine, saved) == [("update", "schedule")]
    assert read["prompts"] == {"version": "2.0", "count": 3, "reboot": False, "token": "********"}
    assert (read["extra_vars"], read["check"], read["verbosity"]) == ({"a": 1}, True, 2)
    assert read["diff"] is None  # left as shown: it follows the template
    assert 'name="follow"' in again
    assert read["limit_host_ids"] == [fleet["hosts"][0]]
    assert secret_kept is not None and SECRET in secret_kept  # noqa: PT018
    assert 'value="2"' in again and "a: 1" in again  # noqa: PT018
    assert renewed.status_code == 303
    assert (followed["check"], followed["verbosity"]) == (None, None)
    assert secret_renewed is not None and "renewed-1" in secret_renewed  # noqa: PT018
    assert "Change what it runs with" not in viewed.text


async def test_a_schedule_moves_to_another_template_with_the_values_it_asks_for(
    browser: httpx.AsyncClient, client: httpx.AsyncClient, admin: Person, operator: Person,
    engine: AsyncEngine,
) -> None:  # fmt: skip
    fleet, token = await fleet_form(browser, client, admin, operator, engine)
    first = await console_template(browser, fleet, token)
    second = await console_template(
        browser, fleet, token,
        prompts="- name: token\n  type: secret\n- name: size\n  type: integer\n"
        "  required: true\n- name: version\n  type: text\n",
    )  # fmt: skip
    second_id = int(second.rsplit("/", 1)[1])
    url = await nightly(browser, first, token)

    step = await browser.get(url, params={"template_id": second_id})
    nowhere = await browser.get(url, params={"template_id": 2_000_000_000})
    moved_form = {"csrf_token": token, "template_id": str(second_id), "prompt.token": "",
                  "prompt.version": "1.2", "verbosity": "0"}  # fmt: skip
    sizeless = await browser.post(f"{url}/values", data=moved_form)
    bad_id = await browser.post(f"{url}/values", data=moved_form | {"template_id": "9" * 30})
    huge_id = await browser.post(f"{url}/values", data=moved_form | {"template_id": "9" * 5000})
    moved = await browser.post(f"{url}/values", data=moved_form | {"prompt.size": "3"})
    read = (await client.get(url, headers=operator.headers)).json()
    async with unit_of_work(session_factory(engine)) as session:
        schedule = await session.get(Schedule, read["id"])
        assert schedule is not None
        secret = schedule.secret_prompts

    assert step.status_code == 200
    assert 'name="prompt.size"' in step.text  # the values form is the new template's
    assert f'name="template_id" value="{second_id}"' in step.text
    assert 'name="prompt.version" value="1.2"' in step.text  # a value it also asks for
    assert nowhere.status_code == 404
    assert sizeless.status_code == bad_id.status_code == huge_id.status_code == 422
    assert 'name="prompt.size"' in sizeless.text  # still the new template's form
    assert "not a job template" in bad_id.text
    assert moved.status_code == 303, moved.text
    assert await audit_trail(engine, moved) == [("update", "schedule")]
    assert read["template_id"] == second_id
    assert read["prompts"] == {"token": "********", "size": 3, "version": "1.2"}
    assert secret is not None
    assert SECRET in secret  # the secret kept, under the new template


async def test_a_cron_expression_is_tried_before_it_is_saved(
    browser: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    async with unit_of_work(session_factory(engine)) as session:
        schedule = await f.make_schedule(session, user_id=operator.id)
    await sign_in(browser, operator)
    new = f"/templates/{schedule.template_id}/schedule"

    tried = await browser.get(new, params={"try_cron": "0 9 * * 1", "try_zone": "Asia/Tokyo"})
    bad = await browser.get(new, params={"try_cron": "61 * * * *"})
    on_page = await browser.get(f"/schedules/{schedule.id}", params={"try_cron": "15 * * * *"})

    assert tried.status_code == bad.status_code == on_page.status_code == 200
    assert tried.text.count(" 09:00 JST</td>") == 10  # Mondays at nine in Tokyo …
    assert tried.text.count(" 00:00</td></tr>") == 10  # … midnight in UTC
    assert 'id="try_cron-error"' in bad.text
    assert 'id="tried-times"' in on_page.text


async def test_older_fires_and_trigger_deliveries_are_a_link_away(
    browser: httpx.AsyncClient, operator: Person, engine: AsyncEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setattr(web_schedules, "FIRES_SHOWN", 2)
    monkeypatch.setattr(web_triggers, "DELIVERIES_SHOWN", 2)
    async with unit_of_work(session_factory(engine)) as session:
        schedule = await f.make_schedule(session, user_id=operator.id)
        for reason in ("first", "second", "third"):
            await f.make_fire(session, schedule_id=schedule.id, reason=f"{reason} fire")
        trigger = await f.make_trigger(session, user_id=operator.id)
        for reason in ("first", "second", "third"):
            await f.make_trigger_delivery(session, trigger_id=trigger.id, reason=f"{reason} try")
    await sign_in(browser, operator)

    pages = {}
    for url, what in ((f"/schedules/{schedule.id}", "fire"), (f"/triggers/{trigger.id}", "try")):
        newest = await browser.get(url)
        older = re.search(r'<a href="\?after=(\d+)#[a-z-]+">Older', newest.text)
        assert older is not None, newest.text
        pages[what] = (newest.text, (await browser.get(url, params={"after": older[1]})).text)

    for what, (newest, oldest) in pages.items():
        assert f"third {what}" in newest and f"second {what}" in newest  # noqa: PT018
        assert f"first {what}" not in newest
        assert f"first {what}" in oldest and f"third {what}" not in oldest  # noqa: PT018
        assert 'href="?after=' not in oldest  # nothing older
