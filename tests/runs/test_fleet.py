"""Runs across many hosts with real ansible over the loopback sshd: one process per
batch, each host's output in its own job, recaps and the task matrix, an unreachable
host told apart, rolling batches that stop at the failure threshold, relaunching the
failed hosts, cancelling, and one ticket per failed run."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from sqlalchemy import select

from opsledger.db.session import session_factory, unit_of_work
from opsledger.models import Ticket
from opsledger.worker.runner import processes_naming
from tests.api import audit_trail
from tests.e2e.cli import free_port
from tests.jobs.test_runner import RUNNER_ONLY
from tests.runs.conftest import Fleet

THREE_TASKS = """\
    - name: first
      command: "echo first on {{ inventory_hostname }}"
    - name: maybe fail
      fail:
        msg: "broken on purpose"
      when: "'bad-' in inventory_hostname"
    - name: third
      debug:
        msg: "third on {{ inventory_hostname }}"
"""
SLEEP_MARKER = f"4127.{os.getpid()}"


async def test_one_run_splits_every_host_into_its_own_job(fleet: Fleet) -> None:
    lab = fleet.lab
    playbook = await lab.playbook(THREE_TASKS)
    good = await fleet.hosts("good", "good", "good")
    bad = (await fleet.hosts("bad"))[0]
    gone = (await fleet.hosts("gone", ssh_port=free_port()))[0]

    launched = await fleet.launch(playbook, forks=5)
    run = await fleet.wait(launched["id"])
    hosts = {item["hostname"]: item for item in await fleet.page(f"/runs/{run['id']}/hosts")}
    tasks = await fleet.page(f"/runs/{run['id']}/tasks")

    assert launched["status"] == "pending"
    assert launched["hosts"] == 5
    assert run["status"] == "failed"  # max_fail_percentage 0: any failure
    assert run["summary"]["hosts"] == {"success": 3, "failed": 1, "unreachable": 1}
    assert (run["summary"]["ok"], run["summary"]["failures"]) == (3 * 2 + 1, 1)
    assert run["summary"]["unreachable"] == 1
    for host in good:
        mine = hosts[host["hostname"]]
        assert (mine["status"], mine["ok"], mine["skipped"], mine["failures"]) == (
            "success", 2, 1, 0
        )  # fmt: skip
    assert (hosts[bad["hostname"]]["status"], hosts[bad["hostname"]]["failures"]) == ("failed", 1)
    assert hosts[gone["hostname"]]["status"] == "unreachable"
    assert "Connection refused" in hosts[gone["hostname"]]["error_message"]

    # Each job's log is its own host's run: its results and its recap line, no other's.
    for host in (*good, bad):
        job_id = hosts[host["hostname"]]["job_id"]
        lines = await lab.lines(job_id)
        output = "\n".join(line["content"] for line in lines)
        assert [line["line_number"] for line in lines] == list(range(1, len(lines) + 1))
        assert "TASK [first]" in output
        assert "PLAY RECAP" in output
        assert f"[{host['hostname']}]" in output
        others = {name for name in hosts if name != host["hostname"]}
        assert not any(f"[{name}]" in output or f"{name} " in output for name in others)
        assert re.search(rf"^{re.escape(host['hostname'])}\s+: ok=", output, re.M)

    # The task-by-host matrix: three tasks on each reachable host, in order.
    cells = {(cell["host_id"], cell["position"]): cell for cell in tasks}
    for host in good:
        row = [cells[(host["id"], position)] for position in range(3)]
        assert [cell["task"] for cell in row] == ["first", "maybe fail", "third"]
        assert [cell["status"] for cell in row] == ["ok", "skipped", "ok"]
        assert row[0]["changed"] is True
        assert row[0]["duration_ms"] is not None
    assert cells[(bad["id"], 1)]["status"] == "failed"
    assert (bad["id"], 2) not in cells
    assert cells[(gone["id"], 0)]["status"] == "unreachable"

    # One ticket for the run, on its first failed host's job, naming both failed hosts.
    async with unit_of_work(session_factory(lab.engine)) as session:
        job_ids = [item["job_id"] for item in hosts.values()]
        opened = list(await session.scalars(select(Ticket).where(Ticket.job_id.in_(job_ids))))
    assert len(opened) == 1
    assert opened[0].job_id == hosts[bad["hostname"]]["job_id"]
    assert f"Run {run['id']} failed" in opened[0].title
    assert bad["hostname"] in (opened[0].description or "")
    assert gone["hostname"] in (opened[0].description or "")
    assert opened[0].priority == "high"  # production

    relaunched = await lab.client.post(
        f"/runs/{run['id']}/relaunch", json={"hosts": "failed"}, headers=lab.operator.headers
    )
    assert relaunched.status_code == 202, relaunched.text
    assert await audit_trail(lab.engine, relaunched) == [
        ("create", "run"),
        *[("create", "job")] * 2,
    ]
    again = relaunched.json()
    assert again["relaunch_of"] == run["id"]
    assert sorted(again["selector"]["host_ids"]) == sorted([bad["id"], gone["id"]])
    assert again["options"] == run["options"]
    await fleet.wait(again["id"])


async def test_the_task_matrix_fills_in_while_the_run_runs(fleet: Fleet) -> None:
    lab = fleet.lab
    playbook = await lab.playbook(
        f"    - name: first\n      command: 'true'\n    - command: sleep {SLEEP_MARKER}\n"
    )
    hosts = await fleet.hosts("live", "live")
    run = await fleet.launch(playbook)
    async with asyncio.timeout(60):
        while len(firsts := await fleet.page(f"/runs/{run['id']}/tasks")) < len(hosts):
            await asyncio.sleep(0.1)
    running = await fleet.run(run["id"])
    cancelled = await lab.client.post(f"/runs/{run['id']}/cancel", headers=lab.operator.headers)
    await fleet.wait(run["id"])
    after = await fleet.page(f"/runs/{run['id']}/tasks")

    assert running["status"] == "running"
    assert sorted(cell["host_id"] for cell in firsts) == sorted(host["id"] for host in hosts)
    assert {(cell["position"], cell["task"], cell["status"]) for cell in firsts} == {
        (0, "first", "ok")
    }
    assert cancelled.status_code == 200
    assert [cell for cell in after if cell["position"] == 0] == firsts  # none written twice


@RUNNER_ONLY
async def test_rolling_batches_stop_once_too_many_hosts_failed(fleet: Fleet) -> None:
    playbook = await fleet.lab.playbook(THREE_TASKS)
    await fleet.hosts("good", "bad", "good", "good")

    run = await fleet.wait((await fleet.launch(playbook, batch_size=2))["id"])
    hosts = await fleet.page(f"/runs/{run['id']}/hosts")

    assert run["batches"] == 2
    assert run["status"] == "failed"
    assert run["reason"].startswith("stopped before batch 1: 1 of 4 hosts failed")
    assert [host["status"] for host in hosts] == ["success", "failed", "cancelled", "cancelled"]
    assert hosts[2]["error_message"] == run["reason"]
    # Half may fail: the same fleet then runs to the end, and the run succeeds.
    tolerant = await fleet.launch(playbook, batch_size=2, max_fail_percentage=25)
    finished = await fleet.wait(tolerant["id"])
    assert finished["status"] == "success"
    assert finished["summary"]["hosts"] == {"success": 3, "failed": 1}


@RUNNER_ONLY
async def test_cancelling_a_run_stops_its_batch_and_its_jobs_are_the_runs(fleet: Fleet) -> None:
    lab = fleet.lab
    playbook = await lab.playbook(f"    - command: sleep {SLEEP_MARKER}\n")
    await fleet.hosts("slow", "slow")
    run = await fleet.launch(playbook)
    async with asyncio.timeout(60):
        while len(processes_naming(SLEEP_MARKER)) < 2:
            await asyncio.sleep(0.1)
    (directory,) = lab.work_dir.iterdir()  # the batch's, named like all its processes
    masters = _masters(directory.name)
    jobs = await fleet.page(f"/runs/{run['id']}/hosts")

    alone = await lab.client.post(f"/jobs/{jobs[0]['job_id']}/cancel", headers=lab.operator.headers)
    cancelled = await lab.client.post(f"/runs/{run['id']}/cancel", headers=lab.operator.headers)
    ended = await fleet.wait(run["id"])
    again = await lab.client.post(f"/runs/{run['id']}/cancel", headers=lab.operator.headers)

    assert alone.status_code == 409
    assert f"run {run['id']}" in alone.json()["detail"]
    assert cancelled.status_code == 200
    assert await audit_trail(lab.engine, cancelled) == [("cancel", "run")] + [("cancel", "job")] * 2
    assert ended["status"] == "cancelled"
    assert ended["summary"]["hosts"] == {"cancelled": 2}
    assert again.status_code == 409
    assert processes_naming(SLEEP_MARKER) == set()
    assert masters == {"0", "1"}  # each host's own, and none of them outlived the cancel
    assert processes_naming(directory.name) == set()


def _masters(run: str) -> set[str]:
    """The hosts (by their place in the batch) whose ssh master connections run now in
    the run whose directory is named ``run``: a master's title is ``ssh: PATH [mux]``."""
    titles = (Path(f"/proc/{pid}/cmdline").read_bytes() for pid in processes_naming(run))
    return {
        match.group(1).decode()
        for match in (re.match(rb"ssh: \S+/cp/(\d+) \[mux\]", title) for title in titles)
        if match is not None
    }


@RUNNER_ONLY
async def test_no_host_or_run_rides_on_another_ones_ssh_connection(fleet: Fleet) -> None:
    """Each host of a batch has its own master connection, which ends with the batch: a
    host record whose key the sshd refuses stays unreachable right after another record
    of the same sshd, address, port and user logged in, in the same run or the one just
    before."""
    lab = fleet.lab
    playbook = await lab.playbook("    - ping:\n    - ping:\n")
    trusted = (await fleet.hosts("trusted"))[0]
    stranger = (await fleet.hosts("stranger", with_key=False))[0]
    credential = {"type": "ssh_key", "username": lab.ssh.user, "value": _unknown_key()}
    added = await lab.client.post(
        f"/hosts/{stranger['id']}/credentials", json=credential, headers=lab.admin.headers
    )
    assert added.status_code == 201, added.text

    # forks 1: the trusted host (first by id) logs in before the stranger is tried.
    both = await fleet.wait((await fleet.launch(playbook, forks=1))["id"])
    alone = await fleet.launch(playbook, selector={"host_ids": [stranger["id"]]})
    after = await fleet.wait(alone["id"])
    hosts = {host["hostname"]: host for host in await fleet.page(f"/runs/{both['id']}/hosts")}

    assert hosts[trusted["hostname"]]["status"] == "success"
    assert hosts[stranger["hostname"]]["status"] == "unreachable"
    assert "Permission denied" in hosts[stranger["hostname"]]["error_message"]
    assert after["summary"]["hosts"] == {"unreachable": 1}


def _unknown_key() -> str:
    """An SSH key no sshd of the tests trusts."""
    key = Ed25519PrivateKey.generate()
    return key.private_bytes(Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption()).decode()


@RUNNER_ONLY
async def test_a_host_runs_one_playbook_at_a_time_first_come_first_served(fleet: Fleet) -> None:
    lab = fleet.lab
    sleeper = await lab.playbook(f"    - command: sleep {SLEEP_MARKER}\n")
    quick = await lab.playbook("    - command: 'true'\n")
    busy, free = await fleet.hosts("busy", "free")
    holding = await lab.launch(sleeper, busy)
    async with asyncio.timeout(60):
        while not processes_naming(SLEEP_MARKER):
            await asyncio.sleep(0.1)

    run = await fleet.launch(quick)
    later = await lab.launch(quick, free)  # after the run, on a host the run wants
    async with asyncio.timeout(30):  # until the pool has tried each of them
        while not (
            all(h["waiting_reason"] for h in await fleet.page(f"/runs/{run['id']}/hosts"))
            and (await lab.job(later))["waiting_reason"]
        ):
            await asyncio.sleep(0.1)
    waiting = await fleet.page(f"/runs/{run['id']}/hosts")
    behind = await lab.job(later)

    assert (await fleet.run(run["id"]))["status"] == "pending"
    assert {host["status"] for host in waiting} == {"pending"}  # all its hosts, or none
    assert waiting[0]["waiting_reason"] == f"host {busy['hostname']} is busy with job {holding}"
    assert behind["status"] == "pending"
    assert behind["waiting_reason"] == (
        f"job {waiting[1]['job_id']}, launched earlier, goes first on host {free['hostname']}"
    )
    cancelled = await lab.client.post(f"/jobs/{holding}/cancel", headers=lab.operator.headers)
    assert cancelled.status_code == 200
    assert (await fleet.wait(run["id"]))["status"] == "success"
    assert (await lab.wait(later))["status"] == "success"
    ran = {host["job_id"]: host for host in await fleet.page(f"/runs/{run['id']}/hosts")}
    assert {host["waiting_reason"] for host in ran.values()} == {None}


async def test_a_host_with_no_way_to_log_in_fails_alone_and_its_batch_runs(fleet: Fleet) -> None:
    lab = fleet.lab
    playbook = await lab.playbook("    - command: 'true'\n")
    await fleet.hosts("good")
    keyless = (await fleet.hosts("keyless", with_key=False))[0]
    await fleet.hosts("good", "good")
    reason = (
        f"cannot start: host {keyless['hostname']} has no active SSH key credential "
        "and no ssh_key_path"
    )

    # Rolling: the first batch is the keyless host and one other; it counts as failed.
    rolling = await fleet.wait((await fleet.launch(playbook, batch_size=2))["id"])
    hosts = await fleet.page(f"/runs/{rolling['id']}/hosts")

    assert [host["status"] for host in hosts] == ["success", "failed", "cancelled", "cancelled"]
    assert hosts[1]["error_message"] == reason
    assert rolling["status"] == "failed"
    assert rolling["reason"].startswith("stopped before batch 1: 1 of 4 hosts failed")
    async with unit_of_work(session_factory(lab.engine)) as session:
        job_ids = [host["job_id"] for host in hosts]
        opened = list(await session.scalars(select(Ticket).where(Ticket.job_id.in_(job_ids))))
    assert [ticket.job_id for ticket in opened] == [hosts[1]["job_id"]]
    assert reason in (opened[0].description or "")

    # One batch: the others run together, in one process the same claim started.
    tolerant = await fleet.wait((await fleet.launch(playbook, max_fail_percentage=25))["id"])
    hosts = await fleet.page(f"/runs/{tolerant['id']}/hosts")
    jobs = [await lab.job(host["job_id"]) for host in hosts]

    assert [host["status"] for host in hosts] == ["success", "failed", "success", "success"]
    assert hosts[1]["error_message"] == reason
    assert tolerant["status"] == "success"
    assert tolerant["summary"]["hosts"] == {"success": 3, "failed": 1}
    assert jobs[1]["started_at"] is None
    assert len({job["started_at"] for job in (jobs[0], *jobs[2:])}) == 1


@RUNNER_ONLY
async def test_a_run_stopped_by_its_time_limit_fails_as_timed_out(fleet: Fleet) -> None:
    lab = fleet.lab
    marker = f"4129.{os.getpid()}"
    playbook = await lab.playbook(f"    - command: sleep {marker}\n")
    await fleet.hosts("slow", "slow")

    run = await fleet.wait((await fleet.launch(playbook, timeout_seconds=2))["id"])
    hosts = await fleet.page(f"/runs/{run['id']}/hosts")
    job = await lab.job(hosts[0]["job_id"])

    assert run["status"] == "failed"
    assert [host["status"] for host in hosts] == ["failed", "failed"]
    assert job["timed_out"] is True
    assert job["error_message"] == "stopped by its time limit (2s) before its play ended"
    assert processes_naming(marker) == set()
