"""An alert raised by hand from the console over real HTTP, as a monitoring system raises
one: on a host or a deployment, with labels and a source, audited; raised again with its fingerprint it updates the
open one; refused beside its field when incomplete, keeping what was typed; a viewer gets
no form."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.db.session import session_factory, unit_of_work
from tests import factories as f
from tests.api import Person, audit_trail
from tests.factories import unique
from tests.web.pages import form_token, sign_in


async def test_an_operator_raises_an_alert_by_hand(
    browser: httpx.AsyncClient, client: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    async with unit_of_work(session_factory(engine)) as session:
        host = await f.make_host(session)
    await sign_in(browser, operator)
    form = await browser.get("/alerts/new")
    fingerprint = unique("by-hand")
    good = {"csrf_token": form_token(form.text), "severity": "critical", "title": "disk <full>",
            "host_id": str(host.id), "labels": "mount=/var\nteam=db",
            "fingerprint": fingerprint}  # fmt: skip

    untitled = await browser.post("/alerts", data=good | {"title": ""})
    raised = await browser.post("/alerts", data=good)
    again = await browser.post("/alerts", data=good | {"title": "disk still full"})
    listed = await client.get(
        "/alerts", params={"source": "console", "host_id": host.id}, headers=operator.headers
    )

    assert host.hostname in form.text
    assert untitled.status_code == 422
    assert 'id="title-error"' in untitled.text
    assert "mount=/var\nteam=db</textarea>" in untitled.text  # what was typed stays
    assert raised.status_code == again.status_code == 303
    (alert,) = listed.json()["items"]
    assert (alert["title"], alert["severity"], alert["labels"]) == (
        "disk still full",
        "critical",
        {"mount": "/var", "team": "db"},
    )
    assert raised.headers["location"] == f"/alerts#alert-{alert['id']}"
    assert await audit_trail(engine, raised) == [("create", "alert")]
    assert await audit_trail(engine, again) == [("update", "alert")]
    assert await audit_trail(engine, untitled) == []


async def test_an_alert_raised_by_hand_names_its_deployment_and_source(
    browser: httpx.AsyncClient, client: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    async with unit_of_work(session_factory(engine)) as session:
        deployment = await f.make_deployment(session, user_id=operator.id)
    await sign_in(browser, operator)
    form = await browser.get("/alerts/new")
    good = {"csrf_token": form_token(form.text), "severity": "warning", "title": "latency",
            "deployment_id": str(deployment.id), "source": "grafana"}  # fmt: skip

    missing = await browser.post("/alerts", data=good | {"deployment_id": "2000000000"})
    nameless = await browser.post("/alerts", data=good | {"source": " "})
    raised = await browser.post("/alerts", data=good)
    listed = await client.get(
        "/alerts", params={"deployment_id": deployment.id}, headers=operator.headers
    )

    assert deployment.name in form.text
    assert missing.status_code == nameless.status_code == 422
    assert 'id="deployment_id-error"' in missing.text
    assert 'id="source-error"' in nameless.text
    assert raised.status_code == 303
    (alert,) = listed.json()["items"]
    assert (alert["source"], alert["deployment_id"]) == ("grafana", deployment.id)


async def test_a_viewer_raises_no_alert(browser: httpx.AsyncClient, viewer: Person) -> None:
    await sign_in(browser, viewer)
    listed = await browser.get("/alerts")
    assert "Raise an alert" not in listed.text
    assert (await browser.get("/alerts/new")).status_code == 403
