"""The job sandbox against hostile playbooks: an admin registers them, an operator runs
them, real ansible over the loopback sshd. Each one tries what the security review did
(``connection: local``, ``delegate_to: localhost``, ``raw``, file/env/pipe lookups, the
key ansible was handed) and the log must hold none of the server's secrets, while
showing that each probe really ran."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.config import JobSandbox, Settings
from opsledger.db.engine import sqlite_file
from opsledger.worker import sandbox
from opsledger.worker.runner import processes_naming
from tests.api import ENCRYPTION_KEY, JWT_SECRET, Person
from tests.jobs.conftest import Lab, open_lab
from tests.jobs.test_runner import RUNNER_ONLY, leftovers
from tests.sshd import SshServer

CANARY = "canary-" + "7" * 24
ROOT = os.geteuid() == 0


@pytest.fixture
async def guarded(
    engine: AsyncEngine,
    admin: Person,
    operator: Person,
    ssh: SshServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Lab]:
    """A lab whose server has a key file, a secret in its environment and another run's
    directory beside this one's, all marked with CANARY."""
    monkeypatch.setenv("OPSLEDGER_CANARY", CANARY)
    key_file = tmp_path / "opsledger.key"
    key_file.write_text(f"OPSLEDGER_JWT_SECRET={CANARY}\n")
    key_file.chmod(0o600)
    # What ansible-runner would take for an event's data, were it read through a link.
    server_only = tmp_path / "server-only.json"
    server_only.write_text(json.dumps({"stdout": CANARY, "event": "verbose"}))
    server_only.chmod(0o600)
    other_run = tmp_path / "jobs" / "another-run"
    other_run.mkdir(parents=True)
    (other_run / "ssh_key").write_text(CANARY)
    async with open_lab(engine, (admin, operator), ssh, tmp_path, key_file=key_file) as lab:
        yield lab


def hostile(pid: int, paths: list[str]) -> str:
    files = " ".join(paths)
    return f"""\
    - name: a local shell looks around the controller
      shell: "id; cat /proc/{pid}/environ /proc/1/environ; env; cat {files}; ls -a {paths[-1]}; true"
      connection: local
      register: local_shell
    - name: show it
      debug:
        msg: "{{{{ local_shell.stdout_lines + local_shell.stderr_lines }}}}"
    - name: the same, delegated to localhost
      command: "cat /proc/{pid}/environ {files}"
      delegate_to: localhost
      ignore_errors: true
    - name: raw, on the controller
      raw: "env; cat {files}; true"
      delegate_to: localhost
      register: raw_shell
    - name: show raw
      debug:
        msg: "{{{{ raw_shell.stdout_lines }}}}"
    - name: the key ansible was handed
      debug:
        msg: "key=[{{{{ lookup('file', ansible_ssh_private_key_file) }}}}]"
    - name: the server's environment through lookups
      debug:
        msg: "env=[{{{{ lookup('env', 'OPSLEDGER_CANARY') }}}}] pipe=[{{{{ lookup('pipe', 'env') }}}}]"
    - name: the server's process through a file lookup
      debug:
        msg: "{{{{ lookup('file', '/proc/{pid}/environ') }}}}"
      ignore_errors: true
    - name: the key file through a file lookup
      debug:
        msg: "{{{{ lookup('file', '{paths[0]}') }}}}"
      ignore_errors: true
    - name: swap ansible-runner's event files for links to the server's files
      shell: >-
        nohup sh -c 'for n in $(seq 2000); do for f in $AWX_ISOLATED_DATA_DIR/job_events/*;
        do ln -sf {paths[2]} "$f"; done; done' >/dev/null 2>&1 &
      connection: local
    - name: events while the links are swapped in
      debug:
        msg: "event {{{{ item }}}}"
      loop: "{{{{ range(30) | list }}}}"
"""


@RUNNER_ONLY
async def test_a_hostile_playbook_finds_none_of_the_servers_secrets(guarded: Lab) -> None:
    lab = guarded
    database = sqlite_file(str(lab.engine.url))
    assert database is not None
    assert lab.settings.key_file.is_file()
    server_only = lab.work_dir.parent / "server-only.json"
    paths = [str(lab.settings.key_file), str(database), str(server_only), str(lab.work_dir)]
    playbook = await lab.playbook(hostile(os.getpid(), paths))
    host = await lab.host()

    job = await lab.wait(await lab.launch(playbook, host))  # launched by the operator

    output = await lab.output(job["id"])
    assert job["status"] == "success", output
    # Every probe ran and was answered by the sandbox, not by an error of its own.
    assert "ANSIBLE_HOME=" in output  # the process's own environment was printed
    assert output.count("No such file or directory") >= 6
    assert "key=[ssh-ed25519 " in output  # the public half only
    assert "env=[]" in output
    if ROOT:
        assert f"uid={os.getuid()}" not in output
        assert f"({lab.settings.runner_user})" in output
    # And nothing of the server's.
    secrets = (CANARY, JWT_SECRET, ENCRYPTION_KEY, "SQLite format 3", "OPSLEDGER_JOB_SPEC")
    for secret in secrets:
        assert secret not in output
    for line in lab.ssh.private_key.splitlines()[1:-1]:
        assert line not in output
    assert "another-run" not in output


NETWORK_PROBE = """\
import socket, sys
def attempt(what, connect):
    try:
        connect()
        print(what, "CONNECTED")
    except OSError as exc:
        print(what, "refused:", exc)
attempt("loopback", lambda: socket.create_connection(("127.0.0.1", {port}), timeout=3))
relay = socket.socket(socket.AF_UNIX)
relay.connect("{relay}")
relay.sendall(b"127.0.0.1 {port}\\n")
print("relay said", relay.recv(200).decode().strip())
"""


@RUNNER_ONLY
async def test_a_playbook_reaches_its_hosts_ssh_and_nothing_else(lab: Lab) -> None:
    """A playbook on the controller tries a service on the controller's loopback, directly
    and through the run's SSH relay: neither reaches it, while the job's own SSH works."""
    reached: list[str] = []

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        reached.append("connected")
        writer.close()

    service = await asyncio.start_server(record, "127.0.0.1", 0)
    port = service.sockets[0].getsockname()[1]
    probe = NETWORK_PROBE.format(port=port, relay="$RELAY").replace("\n", "\n        ")
    playbook = await lab.playbook(
        f"""\
    - name: reach the controller's loopback
      delegate_to: localhost
      shell: |
        cat > "$HOME/probe.py" <<'PY'
        {probe}
        PY
        RELAY=$(ls {tempfile.gettempdir()}/*.agent/relay.sock 2>/dev/null | head -1)
        sed -i "s|\\$RELAY|$RELAY|" "$HOME/probe.py"
        python3 "$HOME/probe.py"
      register: probe
    - name: show it
      debug:
        msg: "{{{{ probe.stdout_lines }}}}"
    - name: and the host itself is reached over SSH
      command: hostname
"""
    )
    async with service:
        job = await lab.wait(await lab.launch(playbook, await lab.host()))
        output = await lab.output(job["id"])

    assert job["status"] == "success", output
    assert reached == []
    assert "loopback refused" in output
    assert "relay said refused: not a host of this run" in output
    assert "CONNECTED" not in output


@RUNNER_ONLY
async def test_playbooks_never_run_unconfined_as_root(
    engine: AsyncEngine, admin: Person, operator: Person, ssh: SshServer, tmp_path: Path
) -> None:
    people = (admin, operator)
    async with open_lab(engine, people, ssh, tmp_path, job_sandbox=JobSandbox.none) as lab:
        playbook = await lab.playbook("    - command: id\n")
        job = await lab.wait(await lab.launch(playbook, await lab.host()))
        output = await lab.output(job["id"])

    if ROOT:
        assert job["status"] == "failed"
        assert "refusing to run playbooks unconfined as root" in job["error_message"]
        assert "TASK" not in output
    else:
        assert job["status"] == "success", output


def test_what_stops_jobs_is_named(tmp_path: Path) -> None:
    sandbox.create_runner_user(Settings())  # as root; elsewhere it does nothing
    books = tmp_path / "books"
    fine = Settings(playbook_root=books, key_file=tmp_path / "opsledger.key")
    exposed = fine.model_copy(update={"key_file": books / "opsledger.key"})
    missing = fine.model_copy(update={"runner_user": "no-such-runner"})

    assert sandbox.problem(fine) is None
    assert f"{books} holds {books / 'opsledger.key'}" in (sandbox.problem(exposed) or "")
    if ROOT:
        assert "'no-such-runner' does not exist" in (sandbox.problem(missing) or "")
    else:
        assert sandbox.problem(missing) is None  # only root switches users


def test_a_run_whose_ssh_control_sockets_would_not_fit_is_refused(tmp_path: Path) -> None:
    """ssh would otherwise fall back quietly to a connection per task."""
    usual = sandbox.RunDirs(tmp_path / "opsledger-job-0123abcd-9999999999-abcdefgh")
    deep = sandbox.RunDirs(tmp_path / f"opsledger-job-{'x' * 80}")
    try:
        sandbox.prepare(usual, None, hosts=1000)
        made = usual.control.is_dir()
    finally:
        shutil.rmtree(usual.agent, ignore_errors=True)
    with pytest.raises(sandbox.SandboxError, match="set TMPDIR to a shorter directory"):
        sandbox.prepare(deep, None, hosts=1)

    assert made
    assert not deep.agent.exists()


FORGE = """\
import base64, json, os
def token(document):
    data = base64.b64encode(json.dumps(document).encode()).decode()
    return "\\x1b[K" + data + "\\x1b[%dD" % len(data) + "\\x1b[K"
for pid in os.listdir("/proc"):
    try:
        if pid.isdigit() and b"ansible-playbook" in open(f"/proc/{pid}/cmdline", "rb").read():
            with open(os.readlink(f"/proc/{pid}/fd/1"), "w") as pty:
                for kind, data in (("runner_on_failed", "zzz"), (None, [1]), ("x", {"res": 5})):
                    event = {"uuid": "1" * 8 + "-1111-1111-1111-" + "1" * 12, "event": kind,
                             "event_data": data, "stdout": 7}
                    pty.write(token(event) + "FORGED\\n" + token({}))
            break
    except OSError:
        continue
"""


@RUNNER_ONLY
async def test_forged_events_neither_break_the_job_nor_its_cancellation(lab: Lab) -> None:
    """Review 2: a playbook wrote ansible-runner event tokens with a string for
    event_data to ansible-playbook's terminal; the server's reading loop raised, cancel
    then stopped nothing and the run, its agent and the job's slot stayed."""
    marker = f"2718.{os.getpid()}"
    forge = FORGE.replace("\n", "\n        ")
    playbook = await lab.playbook(
        f"""\
    - name: forge events
      delegate_to: localhost
      shell: |
        cat > "$HOME/forge.py" <<'PY'
        {forge}
        PY
        python3 "$HOME/forge.py" && touch "$HOME/forged"
        sleep {marker}
"""
    )
    job_id = await lab.launch(playbook, await lab.host())
    async with asyncio.timeout(60):  # the forged events are in, and the job sleeps on
        while not (list(lab.work_dir.glob("*/job/forged")) and processes_naming(marker)):
            await asyncio.sleep(0.1)
    await asyncio.sleep(1)  # for the server to read what was forged

    cancelled = await lab.client.post(f"/jobs/{job_id}/cancel", headers=lab.operator.headers)
    job = await lab.wait(job_id, timeout=30)

    output = await lab.output(job_id)
    assert cancelled.status_code == 200
    assert job["status"] == "cancelled"
    assert "FORGED" in output  # the forged events arrived, as lines like any other
    async with asyncio.timeout(30):
        while processes_naming(marker) or leftovers(lab):
            await asyncio.sleep(0.1)
