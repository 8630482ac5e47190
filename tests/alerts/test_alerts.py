"""Alerts: raised by scripts or Alertmanager, deduplicated by fingerprint, acknowledged
and resolved once."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.db.session import session_factory, unit_of_work
from tests import factories as f
from tests.api import Person, audit_trail


async def test_an_alert_is_raised_acknowledged_and_resolved(
    client: httpx.AsyncClient, operator: Person, viewer: Person, engine: AsyncEngine
) -> None:
    async with unit_of_work(session_factory(engine)) as session:
        host = await f.make_host(session)
    raised = await client.post(
        "/alerts",
        json={
            "source": "node-exporter",
            "severity": "critical",
            "title": "disk 95%",
            "host_id": host.id,
            "labels": {"mount": "/"},
        },
        headers=operator.headers,
    )
    alert = raised.json()
    url = f"/alerts/{alert['id']}"

    acknowledged = await client.post(f"{url}/acknowledge", headers=operator.headers)
    twice = await client.post(f"{url}/acknowledge", headers=operator.headers)
    resolved = await client.post(f"{url}/resolve", headers=operator.headers)

    assert raised.status_code == 201
    assert alert["status"] == "firing"
    assert acknowledged.json()["acknowledged_by"] == operator.id
    assert twice.status_code == 409
    assert resolved.json()["status"] == "resolved"
    assert resolved.json()["resolved_at"] is not None
    assert await audit_trail(engine, raised) == [("create", "alert")]
    assert await audit_trail(engine, acknowledged) == [("acknowledged", "alert")]
    assert await audit_trail(engine, resolved) == [("resolved", "alert")]
    by_host = await client.get(
        "/alerts", params={"host_id": host.id, "status": "resolved"}, headers=viewer.headers
    )
    assert [a["id"] for a in by_host.json()["items"]] == [alert["id"]]
    assert (await client.post(f"{url}/resolve", headers=viewer.headers)).status_code == 403


async def test_the_same_fingerprint_updates_one_open_alert(
    client: httpx.AsyncClient, operator: Person
) -> None:
    fingerprint = f.unique("fp")
    body = {
        "source": "script",
        "severity": "warning",
        "title": "queue backlog",
        "fingerprint": fingerprint,
    }
    first = await client.post("/alerts", json=body, headers=operator.headers)
    again = await client.post(
        "/alerts", json=body | {"severity": "critical"}, headers=operator.headers
    )

    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["severity"] == "critical"


async def test_alertmanager_webhooks_raise_and_resolve_alerts(
    client: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    fingerprint = f.unique("am")
    firing = {
        "version": "4",
        "status": "firing",
        "receiver": "opsledger",
        "groupLabels": {},
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "HighLatency", "severity": "critical", "instance": "web-1"},
                "annotations": {"summary": "p95 over 2 s"},
                "startsAt": "2026-11-26T05:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "fingerprint": fingerprint,
            }
        ],
    }
    created = await client.post("/alerts/alertmanager", json=firing, headers=operator.headers)
    repeated = await client.post("/alerts/alertmanager", json=firing, headers=operator.headers)
    firing["alerts"][0]["status"] = "resolved"  # type: ignore[index]
    resolved = await client.post(
        "/alerts/alertmanager", json=firing | {"status": "resolved"}, headers=operator.headers
    )

    assert created.json() == {"created": 1, "updated": 0, "resolved": 0}
    assert repeated.json() == {"created": 0, "updated": 1, "resolved": 0}
    assert resolved.json() == {"created": 0, "updated": 0, "resolved": 1}
    assert await audit_trail(engine, created) == [("create", "alert")]
    listed = await client.get(
        "/alerts", params={"source": "alertmanager", "status": "resolved"}, headers=operator.headers
    )
    alert = next(a for a in listed.json()["items"] if a["fingerprint"] == fingerprint)
    assert alert["title"] == "p95 over 2 s"
    assert alert["severity"] == "critical"
    assert alert["starts_at"].startswith("2026-11-26T05:00:00")


async def test_bad_alerts_are_422(client: httpx.AsyncClient, operator: Person) -> None:
    for body in (
        {"source": "s", "severity": "apocalyptic", "title": "t"},
        {"source": "s", "severity": "info", "title": "t", "host_id": 99999999},
        {"source": "s", "severity": "info", "title": "t", "status": "resolved"},
        {"source": "", "severity": "info", "title": "t"},
    ):
        assert (
            await client.post("/alerts", json=body, headers=operator.headers)
        ).status_code == 422
    assert (
        await client.post(
            "/alerts/alertmanager", json={"alerts": [{"status": "weird"}]}, headers=operator.headers
        )
    ).status_code == 422
