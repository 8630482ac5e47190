"""Alert remediation: a new firing alert whose labels hold a trigger's alert matchers
launches that trigger's template against the alert's host, as a delivery of the trigger
(once per alert, within its rate and the freeze windows, recorded and audited), and the
alert records the run or why there is none."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.db.session import session_factory, unit_of_work
from opsledger.models import Run
from tests import factories as f
from tests.api import Person, audit_trail

PROMPTS = [{"name": "service", "type": "text", "required": True}]


async def remediation(
    engine: AsyncEngine, *, hosts: int = 1, environment: str | None = None
) -> tuple[int, list[str]]:
    """A template whose selector holds ``hosts`` new hosts (their hostnames)."""
    environment = environment or f.unique("env")
    async with unit_of_work(session_factory(engine)) as session:
        playbook = await f.make_playbook(session)
        names = []
        for _ in range(hosts):
            host = await f.make_host(session, environment=environment, ip_address="192.0.2.77")
            names.append(host.hostname)
        template = await f.make_template(
            session, playbook_id=playbook.id, selector={"environment": environment},
            prompts=PROMPTS,
        )  # fmt: skip
        return template.id, names


async def make_trigger(
    client: httpx.AsyncClient, person: Person, template_id: int, matchers: dict[str, str],
    **fields: Any,
) -> dict[str, Any]:  # fmt: skip
    body = {
        "name": f.unique("remedy"),
        "template_id": template_id,
        "prompts": {"service": "/labels/service"},
        "alert_matchers": matchers,
    } | fields
    response = await client.post("/triggers", json=body, headers=person.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def firing(labels: dict[str, str], status: str = "firing") -> dict[str, Any]:
    fingerprint = f.unique("fp")[-60:]
    return {"status": status, "labels": labels, "fingerprint": fingerprint}


async def alertmanager(
    client: httpx.AsyncClient, person: Person, *alerts: dict[str, Any]
) -> httpx.Response:
    body = {"version": "4", "status": "firing", "alerts": list(alerts)}
    response = await client.post("/alerts/alertmanager", json=body, headers=person.headers)
    assert response.status_code == 200, response.text
    return response


async def alerts_named(client: httpx.AsyncClient, person: Person, name: str) -> list[dict]:
    response = await client.get(
        "/alerts", params={"source": "alertmanager", "limit": 500}, headers=person.headers
    )
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    return [a for a in items if (a["labels"] or {}).get("alertname") == name]


async def deliveries(client: httpx.AsyncClient, person: Person, trigger_id: int) -> list[dict]:
    response = await client.get(f"/triggers/{trigger_id}/deliveries", headers=person.headers)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def test_a_matching_alert_launches_the_template_on_its_host_once(
    client: httpx.AsyncClient, engine: AsyncEngine, operator: Person
) -> None:
    template_id, (hostname, other) = await remediation(engine, hosts=2)
    name = f.unique("RedisDown")
    trigger = await make_trigger(client, operator, template_id, {"alertname": name})
    labels = {"alertname": name, "instance": f"{hostname}:9121", "service": "redis"}
    alert = firing(labels)

    sent = await alertmanager(client, operator, alert)
    again = await alertmanager(client, operator, alert)  # Alertmanager repeats itself

    assert sent.json() == {"created": 1, "updated": 0, "resolved": 0}
    assert again.json() == {"created": 0, "updated": 1, "resolved": 0}
    (raised,) = await alerts_named(client, operator, name)
    assert raised["remediation_run_id"] is not None
    assert raised["remediation"] == f"trigger:{trigger['name']}: run {raised['remediation_run_id']}"
    async with unit_of_work(session_factory(engine)) as session:
        run = await session.get(Run, raised["remediation_run_id"])
        assert run is not None
        assert run.template_id == template_id
        assert run.user_id == operator.id
        assert run.host_ids == [raised["host_id"]]  # the alert's host, not its neighbour
        assert run.extra_vars == {"service": "redis"}
    (delivery,) = await deliveries(client, operator, trigger["id"])
    assert delivery["delivery_id"] == f"alert:{raised['id']}"
    assert (delivery["outcome"], delivery["run_id"]) == ("launched", raised["remediation_run_id"])
    trail = await audit_trail(engine, sent)
    assert trail[0] == ("create", "alert")
    assert ("create", "run") in trail
    assert trail[-2:] == [("create", "trigger_delivery"), ("update", "alert")]
    assert await audit_trail(engine, again) == []  # nothing changed, nothing launched
    assert other != hostname


async def test_the_most_specific_trigger_remediates_and_unmatched_alerts_launch_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine, operator: Person
) -> None:
    template_id, (hostname,) = await remediation(engine)
    name = f.unique("DiskFull")
    broad = await make_trigger(client, operator, template_id, {"alertname": name})
    narrow = await make_trigger(client, operator, template_id, {"alertname": name, "mount": "/var"})

    await alertmanager(
        client, operator,
        firing({"alertname": name, "mount": "/var", "host": hostname, "service": "x"}),
        firing({"alertname": name, "mount": "/srv", "host": hostname, "service": "y"}),
        firing({"alertname": f.unique("Other"), "host": hostname, "service": "z"}),
    )  # fmt: skip

    narrow_runs = [d["outcome"] for d in await deliveries(client, operator, narrow["id"])]
    broad_runs = [d["outcome"] for d in await deliveries(client, operator, broad["id"])]
    assert (narrow_runs, broad_runs) == (["launched"], ["launched"])
    by_mount = {a["labels"]["mount"]: a for a in await alerts_named(client, operator, name)}
    assert by_mount["/var"]["remediation"].startswith(f"trigger:{narrow['name']}")
    assert by_mount["/srv"]["remediation"].startswith(f"trigger:{broad['name']}")


async def test_an_alert_with_no_known_host_or_over_the_rate_launches_nothing_and_says_why(
    client: httpx.AsyncClient, engine: AsyncEngine, operator: Person
) -> None:
    template_id, (hostname,) = await remediation(engine)
    name = f.unique("Remedy")
    trigger = await make_trigger(
        client, operator, template_id, {"alertname": name}, rate_per_minute=1
    )
    sent = {
        "nowhere": {"instance": "nowhere.test:80"},
        "first": {"hostname": hostname},
        "second": {"host": hostname},
    }

    answers = [
        await alertmanager(
            client, operator, firing({"alertname": name, "service": "api", "n": n} | where)
        )
        for n, where in sent.items()
    ]

    recorded = await deliveries(client, operator, trigger["id"])
    assert [(d["outcome"], d["status_code"]) for d in reversed(recorded)] == [
        ("refused", 422), ("launched", 202), ("refused", 429),
    ]  # fmt: skip
    alerts = {a["labels"]["n"]: a for a in await alerts_named(client, operator, name)}
    assert alerts["nowhere"]["host_id"] is None
    assert "names no known host" in alerts["nowhere"]["remediation"]
    assert alerts["first"]["remediation_run_id"] is not None
    assert alerts["second"]["remediation_run_id"] is None
    assert alerts["second"]["remediation"].endswith("at most 1 launches a minute")
    trail = await audit_trail(engine, answers[-1])
    assert ("create", "run") not in trail
    assert trail[-2:] == [("create", "trigger_delivery"), ("update", "alert")]


async def test_a_freeze_window_refuses_a_remediation_with_its_name(
    client: httpx.AsyncClient, engine: AsyncEngine, operator: Person
) -> None:
    environment = f.unique("env")
    template_id, (hostname,) = await remediation(engine, environment=environment)
    name = f.unique("Frozen")
    trigger = await make_trigger(client, operator, template_id, {"alertname": name})
    window = f.unique("freeze")
    async with unit_of_work(session_factory(engine)) as session:
        now = datetime.now(UTC)
        await f.make_window(
            session, name=window, environments=[environment],
            starts_at=now - timedelta(minutes=1), ends_at=now + timedelta(hours=1),
        )  # fmt: skip

    labels = {"alertname": name, "host": hostname, "service": "db"}
    await alertmanager(client, operator, firing(labels))

    (delivery,) = await deliveries(client, operator, trigger["id"])
    assert (delivery["outcome"], delivery["status_code"]) == ("refused", 409)
    (alert,) = await alerts_named(client, operator, name)
    assert alert["remediation_run_id"] is None
    assert window in alert["remediation"]


@pytest.mark.parametrize(
    "matchers",
    [{}, {"a": "b"} | {f"k{i}": "v" for i in range(20)}, {"": "x"}, {"a": "x" * 201}, ["a"]],
)
async def test_bad_matchers_are_refused(
    client: httpx.AsyncClient, engine: AsyncEngine, operator: Person, matchers: Any
) -> None:
    template_id, _ = await remediation(engine)
    body = {"name": f.unique("remedy"), "template_id": template_id, "alert_matchers": matchers}

    response = await client.post("/triggers", json=body, headers=operator.headers)

    assert response.status_code == 422, response.text
    assert "alert_matchers" in response.text


async def test_matchers_are_changed_and_cleared_by_update(
    client: httpx.AsyncClient, engine: AsyncEngine, operator: Person
) -> None:
    template_id, (hostname,) = await remediation(engine)
    name = f.unique("Cleared")
    trigger = await make_trigger(client, operator, template_id, {"alertname": "before"})

    moved = await client.patch(
        f"/triggers/{trigger['id']}", json={"alert_matchers": {"alertname": name}},
        headers=operator.headers,
    )  # fmt: skip
    cleared = await client.patch(
        f"/triggers/{trigger['id']}", json={"alert_matchers": None}, headers=operator.headers
    )
    await alertmanager(client, operator, firing({"alertname": name, "host": hostname}))

    assert moved.json()["alert_matchers"] == {"alertname": name}
    assert cleared.json()["alert_matchers"] is None
    assert await deliveries(client, operator, trigger["id"]) == []
    (alert,) = await alerts_named(client, operator, name)
    assert alert["remediation"] is None
