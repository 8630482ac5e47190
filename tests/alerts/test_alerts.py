"""Alerts: raised by scripts or Alertmanager, deduplicated by fingerprint, acknowledged
and resolved once."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.db.session import session_factory, unit_of_work
from opsledger.models import AuditLog, MonitoringAlert, NotificationDelivery
from tests import factories as f
from tests.api import Person, audit_trail, counting


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


async def deliver(
    client: httpx.AsyncClient, person: Person, *alerts: dict[str, object]
) -> httpx.Response:
    """One Alertmanager webhook delivery of ``alerts``."""
    body = {"version": "4", "status": "firing", "receiver": "opsledger", "alerts": list(alerts)}
    return await client.post("/alerts/alertmanager", json=body, headers=person.headers)


async def test_a_delivery_of_100_alerts_reads_as_much_as_one_of_1(
    client: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    async with unit_of_work(session_factory(engine)) as session:
        by_name = await f.make_host(session)
        by_address = await f.make_host(session, ip_address="198.51.100.77")
    alertname = f.unique("Batch")

    def firing(n: int) -> dict[str, object]:
        instance = f"{by_name.hostname}:9100" if n % 2 else "198.51.100.77"
        labels = {"alertname": alertname, "instance": instance}
        return {"status": "firing", "labels": labels, "fingerprint": f.unique("fp")}

    answers, reads = [], []
    for size in (1, 100):
        with counting(engine) as statements:
            answers.append(await deliver(client, operator, *(firing(n) for n in range(size))))
        # SQLite's driver inserts row by row; everything else is one statement per delivery.
        reads.append([s for s in statements if not s.lstrip().upper().startswith("INSERT")])

    assert [answer.json()["created"] for answer in answers] == [1, 100]
    assert len(reads[0]) == len(reads[1])
    listed = await client.get(
        "/alerts", params={"source": "alertmanager", "limit": 200}, headers=operator.headers
    )
    hosts = [a["host_id"] for a in listed.json()["items"] if a["labels"]["alertname"] == alertname]
    assert sorted(hosts) == sorted([by_address.id] * 51 + [by_name.id] * 50)
    assert len(await audit_trail(engine, answers[1])) == 100


async def test_a_delivery_that_names_an_alert_again_changes_it_in_order(
    client: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    fingerprint = f.unique("again")

    def alert(status: str, summary: str) -> dict[str, object]:
        return {
            "status": status,
            "labels": {"alertname": "Again"},
            "annotations": {"summary": summary},
            "startsAt": "2026-11-30T08:00:00Z",
            "fingerprint": fingerprint,
        }

    delivered = await deliver(
        client,
        operator,
        alert("firing", "one"),
        alert("firing", "two"),
        alert("resolved", "two"),
        alert("firing", "three"),
    )

    assert delivered.json() == {"created": 2, "updated": 1, "resolved": 1}
    assert await audit_trail(engine, delivered) == [
        ("create", "alert"),
        ("update", "alert"),
        ("resolved", "alert"),
        ("create", "alert"),
    ]
    listed = await client.get("/alerts", params={"limit": 200}, headers=operator.headers)
    mine = [a for a in listed.json()["items"] if a["fingerprint"] == fingerprint]
    assert [(a["title"], a["status"]) for a in sorted(mine, key=lambda a: a["id"])] == [
        ("two", "resolved"),
        ("three", "firing"),
    ]
    assert all(a["starts_at"].startswith("2026-11-30T08:00:00") for a in mine)
    async with engine.connect() as connection:
        created = await connection.scalars(
            select(AuditLog.after)
            .where(AuditLog.request_id == delivered.headers["x-request-id"])
            .where(AuditLog.action == "create")
        )
        assert [row["starts_at"][:19] for row in created] == ["2026-11-30T08:00:00"] * 2


async def test_a_delivery_is_audited_and_told_in_its_order_and_finds_every_open_alert(
    client: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    twice, existing, environment = f.unique("twice"), f.unique("known"), f.unique("env")
    async with unit_of_work(session_factory(engine)) as session:
        host = await f.make_host(session, environment=environment)
        # Two open alerts of one fingerprint (two deliveries that raced): each resolve
        # finds the newest of those still open.
        older = await f.make_alert(session, fingerprint=twice, host_id=host.id)
        newer = await f.make_alert(session, fingerprint=twice, host_id=host.id)
        known = await f.make_alert(session, fingerprint=existing, title="before")
        channel = await f.make_channel(session)
        for event in ("alert.firing", "alert.resolved"):
            await f.make_rule(session, channel_id=channel.id, event=event, environment=environment)
    labels = {"alertname": f.unique("Ordered"), "host": host.hostname}

    def alert(status: str, fingerprint: str, summary: str = "s") -> dict[str, object]:
        annotations = {"summary": summary}
        return {"status": status, "labels": labels, "annotations": annotations,
                "fingerprint": fingerprint}  # fmt: skip

    first, second = f.unique("first"), f.unique("second")
    delivered = await deliver(
        client,
        operator,
        alert("firing", first),
        alert("resolved", twice),
        alert("firing", existing, "after"),
        alert("firing", second),
        alert("resolved", twice),
    )

    assert delivered.json() == {"created": 2, "updated": 1, "resolved": 2}
    assert await audit_trail(engine, delivered) == [
        ("create", "alert"),
        ("resolved", "alert"),
        ("update", "alert"),
        ("create", "alert"),
        ("resolved", "alert"),
    ]
    async with engine.connect() as connection:
        told = (
            await connection.scalars(
                select(NotificationDelivery.payload)
                .where(NotificationDelivery.channel_id == channel.id)
                .order_by(NotificationDelivery.id)
            )
        ).all()
        opened = dict(
            (await connection.execute(
                select(MonitoringAlert.fingerprint, MonitoringAlert.id)
                .where(MonitoringAlert.fingerprint.in_([first, second]))
            )).all()
        )  # fmt: skip
    assert [payload["subject"]["id"] for payload in told] == [
        opened[first],
        newer.id,
        opened[second],
        older.id,
    ]
    refreshed = await client.get(f"/alerts/{known.id}", headers=operator.headers)
    assert refreshed.json()["title"] == "after"
