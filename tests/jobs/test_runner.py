"""Real playbooks, run by ansible-runner over SSH against a loopback sshd, through the API
and the embedded job pool: status, every output line, the file on the target, the
ticket a failure opens, cancellation that leaves no process behind, and no key file
left on disk."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.db.base import utcnow
from opsledger.db.session import session_factory, unit_of_work
from opsledger.models import AuditLog, Host, Job, Ticket
from opsledger.worker.runner import RUN_PREFIX, processes_naming, run_prefix
from tests.api import Person
from tests.e2e.cli import free_port
from tests.factories import unique
from tests.jobs.conftest import Lab, open_lab
from tests.sshd import SshServer

WRITE_AND_READ = """\
    - name: write a file
      copy:
        content: "{{ greeting }} from {{ from_role }} and {{ from_playbook }}\\n"
        dest: "{{ target_file }}"
    - name: read it back
      command: "cat {{ target_file }}"
      register: readback
    - name: show it
      debug:
        msg: "read back: {{ readback.stdout }}"
"""

FAILING = """\
    - name: say something first, on the host
      command: echo about to fail
    - name: fail on purpose
      fail:
        msg: "deliberate failure"
"""

# /proc/PID/cmdline separates arguments with NUL: look for the unusual duration alone. It
# names this test process, so xdist workers never see (or wait for) each other's sleeps.
SLEEP_MARKER = f"3517.{os.getpid()}"
SLEEPING = f"""\
    - name: sleep for a long time
      command: sleep {SLEEP_MARKER}
"""


# What happens between the runner, ssh and Ansible is the same whatever database records
# it: run once, on SQLite. The tests left on every backend are those whose outcome the
# database carries (log lines, tickets, cancellation through the job's status, the
# provisioned host's status, the reaper's heartbeat comparison).
RUNNER_ONLY = pytest.mark.backends("sqlite")


async def ticket_of(lab: Lab, job_id: int) -> Ticket | None:
    async with unit_of_work(session_factory(lab.engine)) as session:
        return await session.scalar(select(Ticket).where(Ticket.job_id == job_id))


def leftovers(lab: Lab) -> list[Path]:
    """Anything a finished run left in the job work directory (key files included)."""
    return list(lab.work_dir.rglob("*")) if lab.work_dir.exists() else []


async def test_a_playbook_runs_on_the_host_and_every_line_is_kept(lab: Lab) -> None:
    role = await lab.client.post(
        "/host-roles",
        json={"name": unique("role"), "variables": {"greeting": "role", "from_role": "role-vars"}},
        headers=lab.admin.headers,
    )
    assert role.status_code == 201, role.text
    playbook = await lab.playbook(
        WRITE_AND_READ, variables={"greeting": "playbook", "from_playbook": "playbook-vars"}
    )
    host = await lab.host(host_role_id=role.json()["id"])
    target = lab.ssh.home / f"{unique('written')}.txt"

    job_id = await lab.launch(
        playbook, host, extra_vars={"greeting": "hello", "target_file": str(target)}
    )
    job = await lab.wait(job_id)

    assert job["status"] == "success", job
    assert job["started_at"]
    assert job["completed_at"]
    assert job["error_message"] is None
    # extra_vars over the role's variables over the playbook's.
    assert target.read_text() == "hello from role-vars and playbook-vars\n"
    lines = await lab.lines(job_id)
    assert [line["line_number"] for line in lines] == list(range(1, len(lines) + 1))
    output = "\n".join(line["content"] for line in lines)
    for expected in ("TASK [write a file]", "TASK [read it back]", "PLAY RECAP"):
        assert expected in output
    assert '"msg": "read back: hello from role-vars and playbook-vars"' in output
    assert {line["log_level"] for line in lines} == {"info"}
    assert await ticket_of(lab, job_id) is None
    assert leftovers(lab) == []
    assert lab.ssh.private_key.splitlines()[1] not in output


async def test_a_failing_playbook_fails_the_job_and_opens_a_ticket(lab: Lab) -> None:
    playbook = await lab.playbook(FAILING)
    host = await lab.host(environment="production")

    job = await lab.wait(await lab.launch(playbook, host))

    assert job["status"] == "failed"
    assert "fail on purpose" in job["error_message"]
    assert "deliberate failure" in job["error_message"]
    lines = await lab.lines(job["id"])
    errors = [line["content"] for line in lines if line["log_level"] == "error"]
    assert any("deliberate failure" in content for content in errors)
    ticket = await ticket_of(lab, job["id"])
    assert ticket is not None
    assert ticket.priority == "high"
    assert playbook["name"] in ticket.title
    assert host["hostname"] in ticket.title
    assert ticket.description is not None
    assert "deliberate failure" in ticket.description
    assert ticket.created_by == lab.operator.id
    assert ticket.due_at is not None
    assert leftovers(lab) == []


@RUNNER_ONLY
async def test_an_unreachable_host_fails_with_the_reason(lab: Lab) -> None:
    playbook = await lab.playbook(FAILING)
    host = await lab.host(environment="staging", ssh_port=free_port())  # nothing listens

    job = await lab.wait(await lab.launch(playbook, host))

    assert job["status"] == "failed"
    assert "unreachable" in job["error_message"], await lab.output(job["id"])
    # The relay's reason, through ssh: the address and what the network said.
    assert f"port {host['ssh_port']}: Connection refused" in job["error_message"]
    ticket = await ticket_of(lab, job["id"])
    assert ticket is not None
    assert ticket.priority == "medium"


@RUNNER_ONLY
async def test_a_host_without_a_key_is_never_tried_with_the_servers_own(lab: Lab) -> None:
    playbook = await lab.playbook(FAILING)
    host = await lab.host(with_key=False)

    job = await lab.wait(await lab.launch(playbook, host))

    assert job["status"] == "failed"
    assert "no active SSH key credential" in job["error_message"]
    assert job["started_at"] is None  # refused before it ran
    assert await ticket_of(lab, job["id"]) is not None


@RUNNER_ONLY
async def test_variables_are_data_and_the_servers_secrets_stay_out(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPSLEDGER_PROBE_SECRET", "must-not-leak-4242")
    probe = """\
    - name: look around
      debug:
        msg: "env=[{{ lookup('env', 'OPSLEDGER_PROBE_SECRET') }}] var=[{{ probe }}]"
    - name: walk a mapping, as a playbook may
      debug:
        msg: "key=[{{ item.key }}]"
      loop: "{{ settings | dict2items }}"
"""
    playbook = await lab.playbook(probe)
    host = await lab.host()
    # Keys are data too: with dict2items, a key of "{{ lookup('pipe', …) }}" ran it.
    variables = {"probe": "{{ 6 * 7 }}", "settings": {"{{ lookup('pipe', 'id') }}": "v"}}

    job = await lab.wait(await lab.launch(playbook, host, extra_vars=variables))
    refused = await lab.client.post(
        "/jobs",
        json={"playbook_id": playbook["id"], "host_id": host["id"],
              "extra_vars": {"ansible_connection": "local"}},
        headers=lab.operator.headers,
    )  # fmt: skip

    assert job["status"] == "success", await lab.output(job["id"])
    output = await lab.output(job["id"])
    assert "env=[]" in output
    assert "var=[{{ 6 * 7 }}]" in output  # not templated into 42
    assert "key=[{{ lookup('pipe', 'id') }}]" in output
    assert "uid=" not in output
    assert "must-not-leak-4242" not in output
    assert refused.status_code == 422
    assert "ansible_connection" in refused.text


@RUNNER_ONLY
async def test_a_changed_playbook_file_is_never_run(lab: Lab) -> None:
    target = lab.ssh.home / f"{unique('never')}.txt"
    playbook = await lab.playbook(WRITE_AND_READ)
    Path(playbook["file_path"]).write_text(
        "- hosts: all\n  tasks:\n    - command: touch " + str(target) + "\n"
    )
    host = await lab.host(environment=None)

    job = await lab.wait(await lab.launch(playbook, host))

    assert job["status"] == "failed"
    assert "SHA-256" in job["error_message"]
    assert not target.exists()
    ticket = await ticket_of(lab, job["id"])
    assert ticket is not None
    assert ticket.priority == "low"
    assert "SHA-256" in (ticket.description or "")


async def test_cancelling_a_running_job_stops_it_and_every_process(lab: Lab) -> None:
    playbook = await lab.playbook(SLEEPING)
    host = await lab.host()
    job_id = await lab.launch(playbook, host)
    async with asyncio.timeout(60):  # until the remote command runs
        while not processes_naming(SLEEP_MARKER):
            await asyncio.sleep(0.1)
    assert "TASK [sleep for a long time]" in await lab.output(job_id)

    cancelled = await lab.client.post(f"/jobs/{job_id}/cancel", headers=lab.operator.headers)
    assert cancelled.status_code == 200, cancelled.text
    job = await lab.wait(job_id, timeout=30)

    assert job["status"] == "cancelled"
    assert leftovers(lab) == []
    async with asyncio.timeout(10):  # sshd hangs the remote session up
        while processes_naming(SLEEP_MARKER):
            await asyncio.sleep(0.1)
    assert not processes_naming(str(lab.work_dir))
    assert await ticket_of(lab, job_id) is None


@RUNNER_ONLY
async def test_checked_host_keys_must_match_the_known_hosts_file(lab: Lab) -> None:
    known = lab.work_dir.parent / "known_hosts"
    known.write_text(lab.ssh.known_hosts_line)
    lab.pool.settings = lab.settings.model_copy(update={"ssh_known_hosts": known})
    playbook = await lab.playbook(FAILING.replace("deliberate failure", "reached the host"))
    host = await lab.host()

    trusted = await lab.wait(await lab.launch(playbook, host))
    known.write_text("")
    unknown = await lab.wait(await lab.launch(playbook, host))

    assert "reached the host" in trusted["error_message"]
    assert "unreachable" in unknown["error_message"]
    assert "Host key verification failed" in unknown["error_message"]


async def test_provisioning_runs_the_role_playbook_and_moves_the_host(lab: Lab) -> None:
    target = lab.ssh.home / f"{unique('provisioned')}.txt"
    good = await lab.playbook(
        WRITE_AND_READ,
        variables={
            "greeting": "hi",
            "from_role": "x",
            "from_playbook": "y",
            "target_file": str(target),
        },
    )
    bad = await lab.playbook(FAILING)
    roles = []
    for playbook in (good, bad):
        created = await lab.client.post(
            "/host-roles",
            json={"name": unique("role"), "default_playbook_id": playbook["id"]},
            headers=lab.admin.headers,
        )
        assert created.status_code == 201, created.text
        roles.append(created.json()["id"])
    deployed_host = await lab.host(host_role_id=roles[0])
    failed_host = await lab.host(host_role_id=roles[1])

    started = []
    for host in (deployed_host, failed_host):
        response = await lab.client.post(
            f"/hosts/{host['id']}/provision", headers=lab.operator.headers
        )
        assert response.status_code == 202, response.text
        started.append(response.json())
        again = await lab.client.post(
            f"/hosts/{host['id']}/provision", headers=lab.operator.headers
        )
        assert again.status_code == 409  # already provisioning
    jobs = [await lab.wait(job["id"]) for job in started]

    async with unit_of_work(session_factory(lab.engine)) as session:
        deployed = await session.get(Host, deployed_host["id"])
        failed = await session.get(Host, failed_host["id"])
    assert [job["status"] for job in jobs] == ["success", "failed"]
    assert deployed is not None
    assert deployed.status == "deployed"
    assert deployed.provisioned_at is not None
    assert target.exists()
    assert failed is not None
    assert failed.status == "failed"
    assert failed.error_message is not None
    assert "deliberate failure" in failed.error_message


async def test_a_host_without_a_provisioning_playbook_is_refused(lab: Lab) -> None:
    host = await lab.host()
    response = await lab.client.post(f"/hosts/{host['id']}/provision", headers=lab.operator.headers)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    jobs = await lab.client.get(
        "/jobs", params={"host_id": host["id"]}, headers=lab.operator.headers
    )
    assert jobs.json()["items"] == []


async def test_the_reaper_fails_jobs_whose_worker_went_silent(lab: Lab) -> None:
    await lab.pool.stop()  # this test plays the dead worker itself
    playbook = await lab.playbook(FAILING)
    host = await lab.host()
    job_id = await lab.launch(playbook, host)
    long_ago = utcnow().replace(year=2000)
    async with unit_of_work(session_factory(lab.engine)) as session:
        await session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(status="running", started_at=long_ago, heartbeat_at=long_ago)
        )

    left_behind = lab.work_dir / f"{run_prefix(lab.settings)}{job_id}-killed"
    left_behind.mkdir(parents=True)
    (left_behind / "ssh_key").write_text("a key a killed worker left")
    # Another installation's run beside it (a second server on this host, a test run):
    # its jobs are not this database's to judge.
    theirs = lab.work_dir / f"{RUN_PREFIX}0ther000-{job_id}-running"
    theirs.mkdir()

    reaped = await lab.pool.reap()

    assert job_id in reaped
    assert not left_behind.exists()
    assert theirs.exists()
    job = await lab.job(job_id)
    assert job["status"] == "failed"
    assert "stopped responding" in job["error_message"]
    assert await ticket_of(lab, job_id) is not None
    async with unit_of_work(session_factory(lab.engine)) as session:
        actions = await session.scalars(
            select(AuditLog.action).where(
                AuditLog.resource_type == "job", AuditLog.resource_id == job_id
            )
        )
        assert "reap" in set(actions)


@RUNNER_ONLY
async def test_the_sites_time_limit_stops_a_job_that_runs_too_long(
    engine: AsyncEngine, admin: Person, operator: Person, ssh: SshServer, tmp_path: Path
) -> None:
    """A job of its own has no template to set a limit: OPSLEDGER_JOB_TIMEOUT_SECONDS is
    its limit, and the job it stops fails as timed out (job.timed_out)."""
    marker = f"4128.{os.getpid()}"
    async with open_lab(engine, (admin, operator), ssh, tmp_path, job_timeout_seconds=2) as lab:
        playbook = await lab.playbook(f"    - command: sleep {marker}\n")
        job = await lab.wait(await lab.launch(playbook, await lab.host()))

    assert job["status"] == "failed"
    assert job["timed_out"] is True
    assert job["error_message"] == "stopped by its time limit (2s) before its play ended"
    assert processes_naming(marker) == set()
