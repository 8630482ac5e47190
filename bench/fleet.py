"""A fleet run beside bare ansible-playbook and beside one job per host, in the same run:
50 host records (distinct hostnames) that all point at one loopback sshd, each with the
sshd's key as its ``ssh_key`` credential, and a three-task playbook.

    python bench/fleet.py                                  # SQLite in a temp dir
    python bench/fleet.py --url postgresql://postgres@127.0.0.1/bench

- bare: ``ansible-playbook -f 20`` on an equivalent inventory (same sshd, user, key and
  playbook file), run as this process's user, unconfined, with the key file given
  directly, and the ssh settings opsledger's job process gets (``sandbox._environment``):
  ``ControlMaster=auto``, ``ControlPersist`` as ``sandbox.CONTROL_PERSIST``, a control
  socket of each host's own (as opsledger's inventory sets it), ``IdentitiesOnly``, a
  known_hosts of its own, no pipelining. So both open one master connection per host;
  what bare does without is the sandbox, the agent, the relay and its ProxyCommands.
- run: ``POST /api/v1/runs`` with a selector matching the 50 hosts, ``forks`` 20, one batch,
  through the real ASGI app and the embedded job pool (as ``tests/runs/conftest.py``): one
  ansible-runner process in the sandbox, ssh through the relay, events split into 50 jobs.
- per-host jobs: ``POST /api/v1/jobs`` once per host, run by the embedded pool with the
  defaults' concurrency (``OPSLEDGER_JOB_CONCURRENCY``, 4) and poll interval.

A run's time is from the POST to its status reading finished (its processes stopped, its
directories removed, every job recorded); the jobs' time likewise up to the last job.
Goal (issue 15): run <= 1.25x bare, and >= 5x faster than the per-host jobs. Peak RSS is
the largest sum, over samples every 0.2 s, of the RSS of every process this one started
(the bwrap sandbox and all inside it, the ssh-agent, ssh, the relay's ProxyCommands;
for bare, ansible-playbook and its forks), read from /proc/PID/stat; the sshd and what it
starts are left out (they are the managed hosts' side). A sum of RSS counts pages shared
between processes (ansible's forks, libraries) once per process, so it overstates memory.
CPU seconds are printed too (see ``Usage``): on a busy machine they move less than wall
time does. The one sshd takes 100 handshakes at once (``tests/sshd.py``), as 50 would.
"""

from __future__ import annotations

import asyncio
import os
import re
import resource
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cryptography.fernet import Fernet
from drivers import command_line, run_against
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from opsledger import migrations
from opsledger.config import Settings
from opsledger.db.engine import create_engine
from opsledger.jobs.models import Job, JobLog, JobStatus
from opsledger.runs.models import Run
from opsledger.users.models import UserRole
from opsledger.worker.sandbox import CONTROL_PERSIST, create_runner_user

# The tests' loopback sshd and job lab, as the job and run tests use them.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.api import make_person
from tests.jobs.conftest import Lab, open_lab
from tests.sshd import SSHD, SshServer, ssh_server

TASKS = """\
    - name: say who
      command: "echo {{ inventory_hostname }}"
    - name: look
      stat:
        path: /etc/hostname
    - name: ping
      ping:
"""
FINISHED = {JobStatus.success, JobStatus.failed, JobStatus.cancelled}
SAMPLE_SECONDS = 0.2
RECAP_LINE = re.compile(r"^\S+\s+: ok=\d+ .*unreachable=(\d+)\s+failed=(\d+)", re.M)
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Proc:
    parent: int
    rss: int
    cpu: float  # its own user + system seconds
    reaped_cpu: float  # those of the children it has waited for (and theirs)


def _process_table() -> dict[int, Proc]:
    """Every process now, from /proc/PID/stat."""
    table = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # it ended meanwhile
        fields = stat.rpartition(")")[2].split()  # after the command name, which may hold spaces
        utime, stime, cutime, cstime = (int(n) / CLOCK_TICKS for n in fields[11:15])
        table[int(entry.name)] = Proc(
            int(fields[1]), int(fields[21]) * PAGE_BYTES, utime + stime, cutime + cstime
        )
    return table


def _descendants(table: dict[int, Proc], root: int, skip: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for pid, proc in table.items():
        children.setdefault(proc.parent, []).append(pid)
    found, queue = [], [c for c in children.get(root, []) if c != skip]
    while queue:
        pid = queue.pop()
        found.append(pid)
        queue.extend(children.get(pid, []))
    return found


def _command(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


class Usage:
    """While the ``with`` block runs, sampled in a thread: the largest summed RSS of the
    processes this one started but the sshd; the CPU seconds of each ansible-playbook
    with everything it waited for (its forks, their ssh, the relay's ProxyCommands), as
    last seen, and of ansible-runner itself. Also the CPU time of this process (the
    server: API, pool, ingest, the relay's copying) and how busy the whole machine was
    (other work on it shows there). CPU time is counted from /proc, not from this
    process's rusage: a sandbox's PID namespace is never reaped into it."""

    def __init__(self, sshd: int) -> None:
        self.sshd = sshd
        self.rss = 0
        self.processes = 0
        self.server_cpu = 0.0
        self.machine_busy = 0.0
        self._playbooks: dict[int, float] = {}
        self._runners: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    @property
    def playbook_cpu(self) -> float:
        return sum(self._playbooks.values())

    @property
    def runner_cpu(self) -> float:
        return sum(self._runners.values())

    def __enter__(self) -> Usage:
        self._started = (_server_cpu(), _machine_cpu())
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        (busy, total), (busy_before, total_before) = _machine_cpu(), self._started[1]
        self.server_cpu = _server_cpu() - self._started[0]
        self.machine_busy = (busy - busy_before) / max(1, total - total_before)

    def _sample(self) -> None:
        me, commands = os.getpid(), {}
        while not self._stop.wait(SAMPLE_SECONDS):
            table = _process_table()
            pids = _descendants(table, me, self.sshd)
            for pid in pids:
                if pid not in commands:
                    commands[pid] = _command(pid)
            total = sum(table[pid].rss for pid in pids)
            if total > self.rss:
                self.rss, self.processes = total, len(pids)
            for pid in pids:
                proc, command = table[pid], commands[pid]
                if b"ansible-playbook" in command:
                    if b"ansible-playbook" not in commands.get(proc.parent, b""):  # not a fork
                        self._playbooks[pid] = proc.cpu + proc.reaped_cpu
                elif b"job_process.py" in command and b"relay" not in command:
                    self._runners[pid] = proc.cpu

    def __str__(self) -> str:
        runner = f" + ansible-runner {self.runner_cpu:.1f} s" if self._runners else ""
        return (
            f"peak RSS {self.rss / 2**20:,.0f} MiB ({self.processes} processes); CPU: "
            f"ansible-playbook tree {self.playbook_cpu:.1f} s{runner}, "
            f"server {self.server_cpu:.1f} s; machine {self.machine_busy:.0%} busy"
        )


def _server_cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    return me.ru_utime + me.ru_stime


def _machine_cpu() -> tuple[int, int]:
    """(busy, all) clock ticks of every CPU since boot, from /proc/stat."""
    ticks = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle = ticks[3] + ticks[4]  # of user … steal: idle, iowait
    return sum(ticks) - idle, sum(ticks)


def _sshd_pid() -> int:
    """The loopback sshd: the child of this process started from ``SSHD``."""
    for pid, proc in _process_table().items():
        if proc.parent == os.getpid():
            try:
                if os.readlink(f"/proc/{pid}/exe") == str(SSHD):  # its title changes
                    return pid
            except OSError:
                continue
    raise RuntimeError("the loopback sshd is not a child of this process")


async def bare(
    ssh: SshServer, hosts: list[dict[str, Any]], playbook: Path, forks: int, scratch: Path
) -> tuple[float, dict[str, int]]:
    """``ansible-playbook -f FORKS`` on the same hosts: (seconds, hosts per result)."""
    home = scratch / "bare"
    (home / "tmp").mkdir(parents=True)
    key = home / "id"
    key.write_text(ssh.private_key)
    key.chmod(0o600)
    inventory = home / "hosts.yml"
    control = home / "cp"
    inventory.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "hosts": {
                        host["hostname"]: {
                            "ansible_host": host["ip_address"],
                            "ansible_port": host["ssh_port"],
                            "ansible_user": ssh.user,
                            "ansible_ssh_private_key_file": str(key),
                            "ansible_control_path": str(control / str(index)),
                        }
                        for index, host in enumerate(hosts)
                    }
                }
            }
        )
    )
    # The settings opsledger gives its job process (sandbox._environment), but for the
    # relay and the agent: a master connection per host, no host key remembered.
    env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "TMPDIR": str(home / "tmp"),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "ANSIBLE_HOME": str(home / "ansible"),
        "ANSIBLE_LOCAL_TEMP": str(home / "tmp"),
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(control),
        "ANSIBLE_SSH_ARGS": (
            f"-o ControlMaster=auto -o ControlPersist={CONTROL_PERSIST} "
            f"-o UserKnownHostsFile={home / 'known_hosts'} -o IdentitiesOnly=yes"
        ),
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_PYTHON_INTERPRETER": "auto_silent",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_PIPELINING": "False",
    }
    command = [
        str(Path(sys.executable).with_name("ansible-playbook")),
        *("-i", str(inventory), "-f", str(forks), str(playbook)),
    ]
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        *command,
        env=env,
        cwd=home,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    took = time.perf_counter() - started
    results: dict[str, int] = {}
    for unreachable, failed in RECAP_LINE.findall(output.decode(errors="replace")):
        result = "unreachable" if unreachable != "0" else "failed" if failed != "0" else "success"
        results[result] = results.get(result, 0) + 1
    return took, results


async def fleet_run(
    lab: Lab, playbook: dict[str, Any], tag: str, forks: int
) -> tuple[float, Any, str]:
    """One run across the fleet: (seconds, its summary, where its time went)."""
    started = time.perf_counter()
    response = await lab.client.post(
        "/runs",
        json={
            "playbook_id": playbook["id"],
            "selector": {"tags": [f"fleet={tag}"]},
            "forks": forks,
        },
        headers=lab.operator.headers,
    )
    assert response.status_code == 202, response.text
    run_id = response.json()["id"]
    status = select(Run.status).where(Run.id == run_id)
    while True:
        async with lab.engine.connect() as connection:
            if await connection.scalar(status) in FINISHED:
                took = time.perf_counter() - started
                break
        await asyncio.sleep(0.1)
    answer = await lab.client.get(f"/runs/{run_id}", headers=lab.operator.headers)
    return took, answer.json()["summary"], await phases(lab, run_id)


async def phases(lab: Lab, run_id: int) -> str:
    """Where a run's time went, from what it recorded: launched until its batch was
    claimed; claimed until ansible's first event (sandbox, agent and keys, relay,
    ansible-runner and ansible-playbook starting); first to last event (the playbook);
    last event until every job was recorded (the processes stopping, the directories
    removed, the last lines, each job's end)."""
    lines = select(func.min(JobLog.timestamp), func.max(JobLog.timestamp)).where(
        JobLog.job_id.in_(select(Job.id).where(Job.run_id == run_id))
    )
    jobs = select(func.min(Job.started_at), func.max(Job.completed_at)).where(Job.run_id == run_id)
    async with lab.engine.connect() as connection:
        launched = await connection.scalar(select(Run.created_at).where(Run.id == run_id))
        first, last = (await connection.execute(lines)).one()
        claimed, recorded = (await connection.execute(jobs)).one()
    marks = [launched, claimed, first, last, recorded]
    names = ("queued", "set-up", "playbook", "wrap-up")
    return ", ".join(
        f"{name} {(end - start).total_seconds():.1f} s"
        for name, start, end in zip(names, marks, marks[1:], strict=False)
    )


async def per_host_jobs(
    lab: Lab, playbook: dict[str, Any], hosts: list[dict[str, Any]]
) -> tuple[float, dict[str, int]]:
    """One job per host, all launched at once: (seconds until the last ended, statuses)."""
    started = time.perf_counter()
    job_ids = [await lab.launch(playbook, host) for host in hosts]
    count = select(Job.status, func.count()).where(Job.id.in_(job_ids)).group_by(Job.status)
    while True:
        async with lab.engine.connect() as connection:
            statuses = {str(status): n for status, n in await connection.execute(count)}
        if sum(n for status, n in statuses.items() if status in FINISHED) == len(job_ids):
            return time.perf_counter() - started, statuses
        await asyncio.sleep(0.1)


@contextmanager
def scratch_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="opsledger-fleet-") as scratch:
        yield Path(scratch)


async def main(url: str, hosts: int, forks: int) -> None:
    defaults = Settings()
    engine = create_engine(Settings(database_url=url))
    await migrations.upgrade(engine)
    people = (
        await make_person(engine, UserRole.admin),
        await make_person(engine, UserRole.operator),
    )
    create_runner_user(defaults)  # as root, playbooks run as the runner account
    settings = {
        "encryption_keys": [SecretStr(Fernet.generate_key().decode())],
        # The server's defaults, not the tests' quicker ones.
        "job_poll_seconds": defaults.job_poll_seconds,
        "job_heartbeat_seconds": defaults.job_heartbeat_seconds,
    }
    concurrency = defaults.job_concurrency
    tag = f"bench-{time.time_ns()}"
    with ssh_server() as ssh, scratch_dir() as scratch:
        sshd = _sshd_pid()
        async with open_lab(engine, people, ssh, scratch, concurrency, **settings) as lab:
            playbook = await lab.playbook(TASKS)
            fleet = [
                await lab.host(hostname=f"fleet-{n:03d}.test", tags={"fleet": tag})
                for n in range(hosts)
            ]
            with Usage(sshd) as bare_usage:
                bare_seconds, bare_hosts = await bare(
                    ssh, fleet, Path(playbook["file_path"]), forks, scratch
                )
            with Usage(sshd) as run_usage:
                run_seconds, summary, run_phases = await fleet_run(lab, playbook, tag, forks)
            with Usage(sshd) as jobs_usage:
                jobs_seconds, statuses = await per_host_jobs(lab, playbook, fleet)
    await engine.dispose()

    backend = make_url(url).get_backend_name()
    print(
        f"{backend} fleet: {hosts} hosts x 3 tasks on one loopback sshd, forks {forks}, "
        f"a master connection per host everywhere (ControlPersist={CONTROL_PERSIST})"
    )
    print(f"  bare ansible-playbook -f {forks}   {bare_seconds:7.1f} s   {bare_usage}")
    print(f"    hosts: {bare_hosts}")
    print(f"  run (POST /runs, one batch)   {run_seconds:7.1f} s   {run_usage}")
    print(f"    hosts: {summary['hosts']}; ok {summary['ok']}, failures {summary['failures']}")
    print(f"    {run_phases}")
    print(
        f"  {hosts} single-host jobs (pool of {concurrency}) {jobs_seconds:7.1f} s   {jobs_usage}"
    )
    print(f"    statuses: {statuses}")
    print(
        f"  run / bare {run_seconds / bare_seconds:.2f} (goal <= 1.25); "
        f"per-host jobs / run {jobs_seconds / run_seconds:.1f} (goal >= 5)"
    )


if __name__ == "__main__":
    parser = command_line(__doc__)
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--forks", type=int, default=20)
    args = parser.parse_args()
    run_against(args.url, main, args.hosts, args.forks)
