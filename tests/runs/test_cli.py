"""Templates and runs from the shell: launch a template with prompt values and follow
it to its recap table (exit 1 unless it succeeded), show a run, relaunch its failed
hosts; the embedded backend runs the batches in the command itself. The subject is the
shell (parsing, following, printing, exit codes), so one backend: what runs underneath
runs on every backend in test_fleet.py and through the API."""

from __future__ import annotations

import asyncio
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from opsledger.models import AuditLog
from tests.e2e.cli import opsledger
from tests.factories import unique
from tests.jobs.test_backends import process_settings
from tests.jobs.test_runner import RUNNER_ONLY
from tests.runs.conftest import Fleet
from tests.runs.test_fleet import THREE_TASKS

pytestmark = pytest.mark.backends("sqlite")


@RUNNER_ONLY
async def test_a_template_is_launched_followed_and_relaunched_from_the_shell(
    fleet: Fleet, tmp_path: Path
) -> None:
    lab = fleet.lab
    await lab.pool.stop()  # the commands run the batches themselves
    playbook = await lab.playbook(THREE_TASKS)
    good, bad = await fleet.hosts("good", "bad")
    name = unique("rollout")
    prompts = [{"name": "version", "type": "choice", "choices": ["1", "2"], "required": True}]
    created = await lab.client.post(
        "/job-templates",
        json={"name": name, "playbook_id": playbook["id"], "selector": fleet.selector,
              "prompts": prompts},
        headers=lab.operator.headers,
    )  # fmt: skip
    assert created.status_code == 201, created.text
    settings = process_settings(lab)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return opsledger(*args, cwd=tmp_path, **settings)

    user = ("--user", lab.operator.username)
    refused = await asyncio.to_thread(cli, "templates", "launch", name, "-p", "version=3", *user)
    launched = await asyncio.to_thread(
        cli, "templates", "launch", name, "-p", "version=2", "-f", *user
    )
    run_id = re.search(r"run (\d+) queued: 2 hosts", launched.stderr)
    assert run_id is not None, launched.stderr
    shown = await asyncio.to_thread(cli, "runs", "show", run_id.group(1))
    listed = await asyncio.to_thread(cli, "templates", "list", "--name", name)
    again = await asyncio.to_thread(cli, "runs", "relaunch", run_id.group(1), "--failed", *user)

    assert refused.returncode == 1
    assert "version" in refused.stderr
    assert launched.returncode == 1  # one host failed, so the run did
    assert f"{good['hostname']}: success" in launched.stderr
    assert f"{bad['hostname']}: failed" in launched.stderr
    assert "┃ host" in launched.stdout  # the recap table
    assert f"run {run_id.group(1)} failed" in launched.stdout
    assert shown.returncode == 0
    assert bad["hostname"] in shown.stdout
    assert name in listed.stdout
    assert listed.stdout.count("\n│") == 1  # the one template of that name
    assert again.returncode == 1
    assert "queued: 1 hosts" in again.stderr


async def test_a_freeze_window_stops_the_shell_unless_an_override_reason_is_given(
    fleet: Fleet, tmp_path: Path
) -> None:
    lab = fleet.lab
    playbook = await lab.playbook('    - debug:\n        msg: "ran on {{ inventory_hostname }}"\n')
    environment = unique("frozen")
    (host,) = await fleet.hosts("frozen", environment=environment)
    name = unique("frozen")
    created = await lab.client.post(
        "/job-templates",
        json={"name": name, "playbook_id": playbook["id"], "selector": fleet.selector},
        headers=lab.operator.headers,
    )  # fmt: skip
    assert created.status_code == 201, created.text
    window = unique("freeze")
    now = datetime.now(UTC)
    frozen = await lab.client.post(
        "/freeze-windows",
        json={"name": window, "environments": [environment],
              "starts_at": (now - timedelta(minutes=5)).isoformat(),
              "ends_at": (now + timedelta(hours=1)).isoformat()},
        headers=lab.admin.headers,
    )  # fmt: skip
    assert frozen.status_code == 201, frozen.text
    # The commands only queue what they launch (to a queue nobody takes from): what they
    # are asked here is whether they launch at all, not how a run goes.
    queue = {"job_backend": "celery", "celery_queue": unique("nobody")}
    settings = process_settings(lab) | queue

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return opsledger(*args, "--user", lab.operator.username, cwd=tmp_path, **settings)

    refused = [
        await asyncio.to_thread(cli, "templates", "launch", name),
        await asyncio.to_thread(cli, "jobs", "run", playbook["name"], host["hostname"]),
        await asyncio.to_thread(cli, "templates", "launch", name, "--override-reason", ""),
    ]
    launched = await asyncio.to_thread(
        cli, "templates", "launch", name, "--override-reason", "hotfix CHG-1"
    )
    run_id = re.search(r"run (\d+) queued", launched.stderr)
    assert run_id is not None, launched.stderr
    again = await asyncio.to_thread(
        cli, "runs", "relaunch", run_id.group(1), "--all", "--override-reason", "still CHG-1"
    )
    job = await asyncio.to_thread(
        cli, "jobs", "run", playbook["name"], host["hostname"], "--override-reason", "CHG-2"
    )

    assert [r.returncode for r in refused] == [1, 1, 1]
    assert all(window in r.stderr for r in refused[:2])
    assert "override_reason" in refused[2].stderr
    assert launched.returncode == 0, launched.stderr
    assert again.returncode == 0, again.stderr
    assert job.returncode == 0, job.stderr
    async with lab.engine.connect() as connection:
        overrides = await connection.scalars(
            select(AuditLog.after).where(
                AuditLog.action == "override",
                AuditLog.resource_type == "freeze_window",
                AuditLog.resource_id == frozen.json()["id"],
            )
        )
        reasons = sorted(after["reason"] for after in overrides)
    assert reasons == ["CHG-2", "hotfix CHG-1", "still CHG-1"]
