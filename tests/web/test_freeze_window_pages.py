"""Console pages for freeze windows over real HTTP: the list with those open now marked,
an admin's form adding one once or on a cron (refusals beside their fields, what was
typed kept), changing one on its page, deleting one, each audited; no write control for anyone else, and a forged
post refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.db.session import session_factory, unit_of_work
from opsledger.models import FreezeWindow
from tests import factories as f
from tests.api import Person, audit_trail
from tests.web.pages import form_token, sign_in
from tests.web.test_fleet_pages import count


async def test_an_admin_adds_and_deletes_freeze_windows_from_the_console(
    browser: httpx.AsyncClient, admin: Person, operator: Person, engine: AsyncEngine
) -> None:
    await sign_in(browser, admin)
    token = form_token((await browser.get("/freeze-windows")).text)
    name, weekly = f.unique("release"), f.unique("weekend")
    environment = f.unique("env")
    now = datetime.now(UTC)
    once = {
        "csrf_token": token,
        "name": name,
        "starts_at": (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "ends_at": (now + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
        "environments": environment,
    }
    before = await count(engine, FreezeWindow)

    refused = {
        "no duration": await browser.post(
            "/freeze-windows", data={"csrf_token": token, "name": weekly, "cron": "0 18 * * 5"}
        ),
        "bad zone": await browser.post("/freeze-windows", data=once | {"timezone": "Mars/Base"}),
        "bad role": await browser.post("/freeze-windows", data=once | {"host_role_ids": "x"}),
        "huge": await browser.post("/freeze-windows", data=once | {"name": "x" * 5000}),
    }
    added = await browser.post("/freeze-windows", data=once)
    twice = await browser.post("/freeze-windows", data=once)
    recurring = await browser.post(
        "/freeze-windows",
        data={"csrf_token": token, "name": weekly, "cron": "0 18 * * 5",
              "duration_minutes": "3840", "timezone": "Europe/Berlin",
              # Scoped: from Friday 18:00 to Monday it would freeze every other test.
              "environments": environment},
    )  # fmt: skip

    assert {why: r.status_code for why, r in refused.items()} == {
        "no duration": 422, "bad zone": 422, "bad role": 422, "huge": 422,
    }  # fmt: skip
    assert 'value="0 18 * * 5"' in refused["no duration"].text  # what was typed stays
    assert await count(engine, FreezeWindow) == before + 2  # the two added, nothing refused
    assert added.status_code == 303, added.text
    assert await audit_trail(engine, added) == [("create", "freeze_window")]
    assert twice.status_code == 409
    assert recurring.status_code == 303, recurring.text
    listed = (await browser.get("/freeze-windows", params={"name": name})).text
    assert f"environments {environment}" in listed
    assert "<strong>frozen</strong> until" in listed
    shown = (await browser.get("/freeze-windows", params={"name": weekly})).text
    assert "<code>0 18 * * 5</code> in Europe/Berlin, 3840 min" in shown
    window_id = added.headers["location"].rsplit("-", 1)[1]

    await sign_in(browser, operator)
    page = await browser.get("/freeze-windows", params={"name": name})
    assert page.status_code == 200
    assert "Add a freeze window" not in page.text
    assert "Delete" not in page.text
    forged = await browser.post(
        f"/freeze-windows/{window_id}/delete", data={"csrf_token": form_token(page.text)}
    )
    assert forged.status_code == 403

    await sign_in(browser, admin)
    token = form_token((await browser.get("/freeze-windows")).text)
    deleted = await browser.post(f"/freeze-windows/{window_id}/delete", data={"csrf_token": token})
    assert deleted.status_code == 303
    assert await audit_trail(engine, deleted) == [("delete", "freeze_window")]
    assert (
        "No freeze windows match."
        in (await browser.get("/freeze-windows", params={"name": name})).text
    )


async def test_an_admin_changes_a_freeze_window_on_its_page(
    browser: httpx.AsyncClient, client: httpx.AsyncClient, admin: Person, engine: AsyncEngine
) -> None:
    environment = f.unique("env")
    async with unit_of_work(session_factory(engine)) as session:
        window = await f.make_window(
            session, environments=[environment], timezone="UTC",
            starts_at=datetime(2031, 1, 2, 8, tzinfo=UTC), ends_at=datetime(2031, 1, 2, 9, tzinfo=UTC),
        )  # fmt: skip
    url = f"/freeze-windows/{window.id}"
    await sign_in(browser, admin)
    shown = await browser.get(url)
    typed = {"csrf_token": form_token(shown.text), "name": window.name, "starts_at": "",
             "ends_at": "", "cron": "0 18 * * 5", "duration_minutes": "120",
             "timezone": "Europe/Berlin", "environments": environment}  # fmt: skip

    no_length = await browser.post(url, data=typed | {"duration_minutes": ""})
    weekly = await browser.post(url, data=typed)
    read = (await client.get(url, headers=admin.headers)).json()

    assert 'value="2031-01-02T08:00"' in shown.text  # its times, in its zone
    assert no_length.status_code == 422
    assert 'value="0 18 * * 5"' in no_length.text
    assert weekly.status_code == 303
    assert (read["cron"], read["duration_minutes"], read["starts_at"]) == ("0 18 * * 5", 120, None)
    assert await audit_trail(engine, weekly) == [("update", "freeze_window")]
    assert await audit_trail(engine, no_length) == []


async def test_a_window_at_the_end_of_the_calendar_still_shows(
    browser: httpx.AsyncClient, admin: Person, engine: AsyncEngine
) -> None:
    async with unit_of_work(session_factory(engine)) as session:
        window = await f.make_window(
            session, environments=[f.unique("env")], timezone="Asia/Tokyo",
            starts_at=datetime(9999, 12, 31, 20, tzinfo=UTC),
            ends_at=datetime(9999, 12, 31, 22, tzinfo=UTC),
        )  # fmt: skip
    await sign_in(browser, admin)
    assert (await browser.get(f"/freeze-windows/{window.id}")).status_code == 200


async def test_what_is_frozen_at_another_time_is_shown_in_its_zone(
    browser: httpx.AsyncClient, viewer: Person, engine: AsyncEngine
) -> None:
    async with unit_of_work(session_factory(engine)) as session:
        window = await f.make_window(
            session, environments=[f.unique("env")],
            starts_at=datetime(2031, 1, 1, 10, tzinfo=UTC),
            ends_at=datetime(2031, 1, 1, 12, tzinfo=UTC),
        )  # fmt: skip
    await sign_in(browser, viewer)
    at = "/freeze-windows/at"

    inside = await browser.get(at, params={"at": "2031-01-01T11:30", "timezone": "Europe/Berlin"})
    after = await browser.get(at, params={"at": "2031-01-01T13:30", "timezone": "Europe/Berlin"})
    nowhere = await browser.get(at, params={"at": "2031-01-01T11:30", "timezone": "Mars/Base"})
    blank = await browser.get(at)

    assert inside.status_code == after.status_code == blank.status_code == 200
    assert f">{window.name}</a>" in inside.text  # 10:30 UTC: inside 10:00 to 12:00
    assert window.name not in after.text  # 12:30 UTC
    assert nowhere.status_code == 422
    assert 'id="timezone-error"' in nowhere.text
