"""Provisioning a fleet: every host a selector matches runs its role's default playbook,
one run per playbook, and each host moves by its own job's result."""

from __future__ import annotations

from tests.api import audit_trail
from tests.factories import unique
from tests.jobs.test_runner import RUNNER_ONLY
from tests.runs.conftest import Fleet
from tests.runs.test_fleet import THREE_TASKS


@RUNNER_ONLY
async def test_a_fleet_is_provisioned_one_run_per_role_playbook(fleet: Fleet) -> None:
    lab = fleet.lab
    playbook = await lab.playbook(THREE_TASKS)
    other = await lab.playbook("    - command: 'true'\n")
    roles = []
    for default in (playbook, other):
        created = await lab.client.post(
            "/host-roles",
            json={"name": unique("role"), "default_playbook_id": default["id"]},
            headers=lab.admin.headers,
        )
        assert created.status_code == 201, created.text
        roles.append(created.json()["id"])
    good, bad = await fleet.hosts("good", "bad", host_role_id=roles[0])
    (third,) = await fleet.hosts("db", host_role_id=roles[1])
    (roleless,) = await fleet.hosts("bare")

    refused = await lab.client.post(
        "/hosts/provision", json={"selector": fleet.selector}, headers=lab.operator.headers
    )
    selector = {"host_ids": [good["id"], bad["id"], third["id"]]}
    launched = await lab.client.post(
        "/hosts/provision",
        json={"selector": selector, "forks": 3},
        headers=lab.operator.headers,
    )
    again = await lab.client.post(
        "/hosts/provision", json={"selector": selector}, headers=lab.operator.headers
    )

    assert refused.status_code == 422
    assert roleless["hostname"] in refused.json()["detail"]
    assert launched.status_code == 202, launched.text
    runs = launched.json()["items"]
    assert sorted(run["hosts"] for run in runs) == [1, 2]
    trail = await audit_trail(lab.engine, launched)
    assert trail.count(("create", "run")) == 2
    assert trail.count(("create", "job")) == 3
    assert [row for row in trail if row[1] == "host"] == [("transition", "host")] * 3
    assert again.status_code == 409  # they are provisioning already
    assert await audit_trail(lab.engine, again) == []
    for run in runs:
        await fleet.wait(run["id"])
    statuses = {}
    for host in (good, bad, third, roleless):
        response = await lab.client.get(f"/hosts/{host['id']}", headers=lab.operator.headers)
        statuses[host["hostname"]] = response.json()["status"]
    assert statuses == {
        good["hostname"]: "deployed",
        bad["hostname"]: "failed",
        third["hostname"]: "deployed",
        roleless["hostname"]: "new",
    }
