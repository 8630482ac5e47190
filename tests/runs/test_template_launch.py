"""Launching a template: its selector and options, the launch's prompt values checked by
the one validator, and a secret prompt that reaches the playbook but nothing else."""

from __future__ import annotations

import hashlib

from sqlalchemy import text

from opsledger.db.session import session_factory, unit_of_work
from tests.api import audit_trail
from tests.factories import unique
from tests.jobs.test_runner import RUNNER_ONLY
from tests.runs.conftest import Fleet

SECRET = "s3cret-" + "9" * 20
SHOWS = """\
    - name: "deploy {{ version }}"
      debug:
        msg: "version={{ version }} replicas={{ replicas }} token={{ token }} sha={{ token | hash('sha1') }}"
"""


@RUNNER_ONLY
async def test_a_template_launch_checks_prompts_and_keeps_the_secret_out_of_sight(
    fleet: Fleet,
) -> None:
    lab = fleet.lab
    playbook = await lab.playbook(SHOWS)
    one, two, _three = await fleet.hosts("web", "web", "web")
    elsewhere = await lab.host()  # not the template's: no fleet tag
    prompts = [
        {"name": "version", "type": "choice", "choices": ["1.0", "1.1"], "required": True},
        {"name": "replicas", "type": "integer", "min": 1, "max": 9, "default": 2},
        {"name": "token", "type": "secret", "required": True},
    ]
    created = await lab.client.post(
        "/job-templates",
        json={"name": unique("deploy"), "playbook_id": playbook["id"],
              "selector": fleet.selector, "prompts": prompts, "forks": 3},
        headers=lab.operator.headers,
    )  # fmt: skip
    assert created.status_code == 201, created.text
    template = created.json()

    async def launch(body: dict[str, object]) -> object:
        return await lab.client.post(
            f"/job-templates/{template['id']}/launch", json=body, headers=lab.operator.headers
        )

    bad = await launch({"prompts": {"version": "2.0", "replicas": 0}})
    outside = await launch(
        {"prompts": {"version": "1.0", "token": SECRET}, "limit_host_ids": [elsewhere["id"]]}
    )
    launched = await launch(
        {"prompts": {"version": "1.1", "token": SECRET}, "limit_host_ids": [one["id"], two["id"]]}
    )

    assert bad.status_code == 422, bad.text
    named = {tuple(error["loc"]) for error in bad.json()["errors"]}
    assert named == {("body", "prompts", "version"), ("body", "prompts", "replicas"),
                     ("body", "prompts", "token")}  # fmt: skip
    assert outside.status_code == 422
    assert launched.status_code == 202, launched.text
    run = launched.json()
    assert run["template_id"] == template["id"]
    assert run["hosts"] == 2
    assert run["options"]["forks"] == 3
    assert run["extra_vars"] == {"version": "1.1", "replicas": 2, "token": "********"}
    finished = await fleet.wait(run["id"])
    assert finished["status"] == "success"

    hosts = await fleet.page(f"/runs/{run['id']}/hosts")
    output = await lab.output(hosts[0]["job_id"])
    job = await lab.job(hosts[0]["job_id"])
    digest = hashlib.sha1(SECRET.encode()).hexdigest()
    assert "version=1.1 replicas=2 token=******** sha=" + digest in output  # it had the value
    assert SECRET not in output
    assert job["extra_vars"]["token"] == "********"
    assert SECRET not in launched.text
    async with unit_of_work(session_factory(lab.engine)) as session:
        stored = await session.scalar(
            text("SELECT secret_vars FROM runs WHERE id = :id"), {"id": run["id"]}
        )
        audit = await session.scalar(
            text(
                "SELECT count(*) FROM audit_logs WHERE after_state LIKE :s OR before_state LIKE :s"
            ),
            {"s": f"%{SECRET}%"},
        )
    assert stored.startswith("gAAAAA")
    assert audit == 0
    assert await audit_trail(lab.engine, launched) == [("create", "run"), *[("create", "job")] * 2]


@RUNNER_ONLY
async def test_a_firing_alert_remediates_its_host_over_ssh(fleet: Fleet) -> None:
    lab = fleet.lab
    playbook = await lab.playbook(
        '    - name: restart\n      debug:\n        msg: "restarting {{ service }} on {{ inventory_hostname }}"\n'
    )
    sick, healthy = await fleet.hosts("redis", "redis")
    created = await lab.client.post(
        "/job-templates",
        json={"name": unique("restart"), "playbook_id": playbook["id"], "selector": fleet.selector,
              "prompts": [{"name": "service", "type": "text", "required": True}]},
        headers=lab.operator.headers,
    )  # fmt: skip
    assert created.status_code == 201, created.text
    name = unique("RedisDown")
    trigger = await lab.client.post(
        "/triggers",
        json={"name": unique("remedy"), "template_id": created.json()["id"],
              "prompts": {"service": "/labels/job"}, "alert_matchers": {"alertname": name}},
        headers=lab.operator.headers,
    )  # fmt: skip
    assert trigger.status_code == 201, trigger.text
    labels = {"alertname": name, "job": "redis", "instance": f"{sick['hostname']}:9121"}

    sent = await lab.client.post(
        "/alerts/alertmanager",
        json={"alerts": [{"status": "firing", "labels": labels, "fingerprint": unique("fp")}]},
        headers=lab.operator.headers,
    )  # fmt: skip

    assert sent.status_code == 200, sent.text
    listed = await lab.client.get(
        "/alerts", params={"host_id": sick["id"]}, headers=lab.operator.headers
    )
    (alert,) = listed.json()["items"]
    assert alert["host_id"] == sick["id"]
    finished = await fleet.wait(alert["remediation_run_id"])
    assert finished["status"] == "success"
    (only,) = await fleet.page(f"/runs/{finished['id']}/hosts")
    assert only["host_id"] == sick["id"] != healthy["id"]
    assert f"restarting redis on {sick['hostname']}" in await lab.output(only["job_id"])
