"""Templates and runs from the shell: launch a template with prompt values and follow
it to its recap table (exit 1 unless it succeeded), show a run, relaunch its failed
hosts; the embedded backend runs the batches in the command itself."""

from __future__ import annotations

import asyncio
import re
import subprocess
from pathlib import Path

from tests.e2e.cli import opsledger
from tests.factories import unique
from tests.jobs.test_backends import process_settings
from tests.jobs.test_runner import RUNNER_ONLY
from tests.runs.conftest import Fleet
from tests.runs.test_fleet import THREE_TASKS


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
    listed = await asyncio.to_thread(cli, "templates", "list")
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
    assert again.returncode == 1
    assert "queued: 1 hosts" in again.stderr
