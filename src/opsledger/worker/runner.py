"""Running one playbook against a batch of hosts, each host's output as its job's lines.

Every run gets a private directory (``sandbox.RunDirs``) with the job process's home:
ansible-runner's private data (inventory, variables, artifacts), ``ANSIBLE_HOME`` and
known_hosts; beside it the run's sockets: an ssh-agent's that holds the run's keys, the
relay's and ssh's master connections'. The job process (``job_process.py``:
ansible-runner and everything it starts) runs confined (``sandbox.py``) and reports each
event as a JSON line, the one thing the server reads of it. The directories are removed
afterwards whatever happens. ssh keeps one master connection per host for the run
(``ControlMaster=auto``, each host's control socket its own, in the run's socket
directory), so a host's tasks after the first need no new handshake, and no other host,
job or run can reuse its authenticated connection. Cancelling stops every process whose
command line names the run's directory: the sandbox and all inside it (which die with
it: the masters too), and the agent.

One ansible-runner process runs the whole batch with ``forks``; its events are split by
host (``Split``): a host's task results go to that host's job, lines of no host (play
and task banners, warnings) to every job of the batch, and the play recap's line for a
host to that host's job only. So each job's log reads as if the playbook had run on its
host alone.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from opsledger.config import Settings, safe_url
from opsledger.db.base import utcnow
from opsledger.db.engine import sqlite_file
from opsledger.jobs.models import JobStatus
from opsledger.jobs.plans import RECAP_FIELDS, Line, Outcome, Plan, TaskResult
from opsledger.playbooks.files import current_hash
from opsledger.worker import sandbox
from opsledger.worker.relay import Relay

log = logging.getLogger(__name__)

FAILED_EVENTS = frozenset({"runner_on_failed", "runner_on_unreachable", "runner_item_on_failed"})
STOP_GRACE_SECONDS = 3.0
RUN_PREFIX = "opsledger-job-"


def run_prefix(settings: Settings) -> str:
    """The start of this installation's run directory names: ``opsledger-job-`` and a
    digest of its database, so that two installations sharing a temp directory (or a
    test run beside a server) never sweep each other's runs. A SQLite database is named
    by its absolute path: the default URL is relative, the same string for every
    installation on the machine."""
    database = sqlite_file(settings.database_url)
    identity = safe_url(settings.database_url) if database is None else str(database.resolve())
    digest = hashlib.sha256(identity.encode()).hexdigest()[:8]
    return f"{RUN_PREFIX}{digest}-"


# A line for one job of the batch, or (None) for every job of it; or a task's result on
# the host of one job.
Emit = Callable[[int | None, Line | TaskResult], Awaitable[Any]]
Outcomes = dict[int, Outcome]


async def execute(plan: Plan, settings: Settings, emit: Emit, cancel: asyncio.Event) -> Outcomes:
    """Run the plan; every output line and task result goes to ``emit`` in order, with
    the job it belongs to. Setting ``cancel`` stops the run (within a fraction of a
    second) and every outcome is cancelled. Returns each job's outcome."""
    found = await current_hash(plan.playbook_path)
    if found != plan.playbook_hash:
        why = "is missing" if found is None else "changed since it was registered"
        return await _refuse(
            plan, emit, f"playbook file {plan.playbook_path} {why} (SHA-256 check failed); not run"
        )
    if (why_not := await asyncio.to_thread(sandbox.problem, settings)) is not None:
        return await _refuse(plan, emit, f"cannot run playbooks: {why_not}")
    root = settings.job_work_dir
    if root is not None:
        await asyncio.to_thread(root.mkdir, parents=True, exist_ok=True)
    workdir = Path(
        await asyncio.to_thread(
            tempfile.mkdtemp, prefix=f"{run_prefix(settings)}{plan.lead.job_id}-", dir=root
        )
    )
    dirs = sandbox.RunDirs(workdir)
    try:
        account = sandbox.runner_account(settings)
        await asyncio.to_thread(sandbox.prepare, dirs, account, len(plan.targets))
        agent = sandbox.Agent(dirs, account)
        owner = None if account is None else (account.uid, account.gid)
        targets = [(target.address, target.port) for target in plan.targets]
        relay = Relay(dirs.relay_socket, targets, owner, plan.options.forks)
        try:
            await asyncio.to_thread(agent.start)
            for index, target in enumerate(plan.targets):
                key = None if target.private_key is None else target.private_key.get_secret_value()
                await asyncio.to_thread(agent.add, key, target.key_path, dirs.identity(index))
            await relay.start()
            return await _run(plan, settings, dirs, account, relay, emit, cancel)
        finally:
            await relay.close()
            await asyncio.to_thread(agent.stop)
    except sandbox.SandboxError as exc:
        return await _refuse(plan, emit, str(exc))
    finally:
        # Whatever happened: no process of this run outlives it, nothing of it stays.
        await asyncio.to_thread(remove, dirs)


async def _refuse(plan: Plan, emit: Emit, error: str) -> Outcomes:
    await emit(None, Line(f"opsledger: {error}", "error", utcnow()))
    return plan.each(Outcome(JobStatus.failed, error))


async def _run(
    plan: Plan,
    settings: Settings,
    dirs: sandbox.RunDirs,
    account: sandbox.Account | None,
    relay: Relay,
    emit: Emit,
    cancel: asyncio.Event,
) -> Outcomes:
    arguments = await asyncio.to_thread(_prepare, plan, dirs, account)
    command = sandbox.job_command(dirs, settings, account)
    process = await asyncio.create_subprocess_exec(
        *command.argv,
        env=command.env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        limit=MAX_EVENT_BYTES,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    process.stdin.write(json.dumps(arguments).encode())
    process.stdin.close()
    stopper = asyncio.create_task(_stop_when_cancelled(cancel, dirs))
    errors = asyncio.create_task(_last_error_line(process.stderr))
    split = Split(plan, relay.failures)
    end: dict[str, Any] = {}
    finished = False
    try:
        while line := await process.stdout.readline():
            message = _message(line)
            event = message.get("event")
            if isinstance(event, dict):
                for job_id, each in split.lines(event):
                    await emit(job_id, each)
            elif message:
                end = message
        finished = True
    except ValueError:  # a line over MAX_EVENT_BYTES
        log.warning("run %s sent an event over %d bytes: stopped", dirs.root.name, MAX_EVENT_BYTES)
        end = {"error": f"an event over {MAX_EVENT_BYTES} bytes"}
    finally:
        if not finished:  # whatever stopped the reading, nothing of the run goes on
            await asyncio.shield(asyncio.to_thread(stop_processes, dirs.root.name))
        returncode = await process.wait()
        stopper.cancel()
    return split.outcomes(end, cancel, returncode, await errors)


MAX_EVENT_BYTES = 16 * 2**20


def _message(line: bytes) -> dict[str, Any]:
    """One line of the job process: ``{"event": {...}}``, ``{"end": {...}}`` or
    ``{"error": "..."}``. A playbook can forge lines (ansible-runner decodes event tokens
    from the playbook's own output), so every part the server reads is taken here, of
    the type it expects, and anything else is dropped."""
    try:
        message = json.loads(line)
    except ValueError:
        return {}
    if not isinstance(message, dict):
        return {}
    if "event" in message:
        return {"event": _event(message["event"])} if isinstance(message["event"], dict) else {}
    end = message.get("end")
    if isinstance(end, dict):
        return {"end": {"status": _text(end.get("status")), "rc": _text(end.get("rc"))}}
    return {"error": _text(message.get("error")) or "no reason given"}


def _event(raw: dict[str, Any]) -> dict[str, Any]:
    data = raw.get("event_data")
    data = data if isinstance(data, dict) else {}
    result = data.get("res")
    result = result if isinstance(result, dict) else {}
    duration = data.get("duration")
    return {
        "event": _text(raw.get("event")),
        "stdout": _text(raw.get("stdout")),
        "created": _text(raw.get("created")),
        "event_data": {
            "task": _text(data.get("task")),
            "task_uuid": _text(data.get("task_uuid")),
            "host": _text(data.get("host")),
            "ignore_errors": data.get("ignore_errors") is True,
            "duration": duration if isinstance(duration, int | float) else None,
            "res": {
                "msg": _text(result.get("msg")),
                "stderr": _text(result.get("stderr")),
                "changed": result.get("changed") is True,
            },
            # playbook_on_stats: {"ok": {host: count}, …}
            **{name: _counts(data.get(name)) for name in STATS_FIELDS},
        },
    }


def _counts(value: object) -> dict[str, int]:
    if not isinstance(value, dict):
        return {}
    return {str(k): v for k, v in value.items() if isinstance(v, int) and not isinstance(v, bool)}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) or value is None else str(value)


async def _stop_when_cancelled(cancel: asyncio.Event, dirs: sandbox.RunDirs) -> None:
    await cancel.wait()
    await asyncio.to_thread(stop_processes, dirs.root.name)


async def _last_error_line(stream: asyncio.StreamReader | None) -> str:
    """The job process's last line of stderr (what Python says when it cannot start)."""
    last = ""
    while stream is not None and (line := await stream.readline()):
        last = line.decode(errors="replace").strip()[:500] or last
    return last


def _prepare(plan: Plan, dirs: sandbox.RunDirs, account: sandbox.Account | None) -> dict[str, Any]:
    """Write the run's inventory and variables; return ansible-runner's arguments."""
    hosts = {
        target.hostname: {
            **target.variables,
            "ansible_host": target.address,
            "ansible_port": target.port,
            "ansible_user": target.user,
            "ansible_ssh_private_key_file": str(dirs.identity(index)),
            "ansible_control_path": str(dirs.control_socket(index)),
        }
        for index, target in enumerate(plan.targets)
    }
    # Variables go in as data, never templates: every string is !unsafe to Ansible, so
    # a value like "{{ lookup('file', …) }}" stays that text; the inventory's too (a
    # credential's username or a hostname is never a template).
    dirs.inventory.write_text(unsafe_yaml({"all": {"hosts": hosts}}))
    dirs.extravars.write_text(unsafe_yaml(plan.extra_vars))
    if account is not None:
        for written in (dirs.inventory, dirs.extravars):
            os.chown(written, account.uid, account.gid)
    options = plan.options
    flags = [flag for flag, on in (("--check", options.check), ("--diff", options.diff)) if on]
    arguments: dict[str, Any] = {
        "private_data_dir": str(dirs.private),
        "playbook": plan.playbook_path,
        "inventory": str(dirs.inventory),
        "forks": options.forks,
        "settings": {"pexpect_timeout": 0.2, "suppress_ansible_output": True},
        "quiet": True,
    }
    optional = {
        "verbosity": options.verbosity or None,
        "tags": ",".join(options.job_tags) or None,
        "skip_tags": ",".join(options.skip_tags) or None,
        "cmdline": " ".join(flags) or None,
        "timeout": options.timeout_seconds,
    }
    return arguments | {name: value for name, value in optional.items() if value is not None}


class _Unsafe(str):
    """A string Ansible must not template."""


class _UnsafeDumper(yaml.SafeDumper):
    pass


_UnsafeDumper.add_representer(
    _Unsafe, lambda dumper, value: dumper.represent_scalar("!unsafe", str(value))
)


def _mark(value: Any) -> Any:
    if isinstance(value, str):
        return _Unsafe(value)
    if isinstance(value, dict):
        # Keys too: a playbook that loops over a mapping (dict2items, with_dict) templates
        # them, and "{{ lookup('pipe', …) }}" as a key ran commands (review finding 2).
        return {_mark(key): _mark(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_mark(item) for item in value]
    return value


def unsafe_yaml(variables: dict[str, Any]) -> str:
    return yaml.dump(_mark(variables), Dumper=_UnsafeDumper, allow_unicode=True)


STATS_FIELDS = ("ok", "changed", "failures", "dark", "skipped", "rescued", "ignored")
TASK_STARTS = frozenset({"playbook_on_task_start", "playbook_on_handler_task_start"})
RESULTS = {
    "runner_on_ok": "ok",
    "runner_on_failed": "failed",
    "runner_on_skipped": "skipped",
    "runner_on_unreachable": "unreachable",
}


class Split:
    """A batch's events, told apart by host: each line and task result for the job it
    belongs to (lines of no host: every job), and per host its first failure and recap."""

    def __init__(self, plan: Plan, network_failures: dict[tuple[str, int], str]) -> None:
        """``network_failures``: the relay's, by address and port, as they happen."""
        self.plan = plan
        self.jobs = {target.hostname: target.job_id for target in plan.targets}
        self.addresses = {target.hostname: (target.address, target.port) for target in plan.targets}
        self.network_failures = network_failures
        self.failures: dict[int, str] = {}
        self.recaps: dict[int, dict[str, int]] = {}
        self._positions: dict[str, int] = {}

    def lines(self, event: dict[str, Any]) -> list[tuple[int | None, Line | TaskResult]]:
        """Take in one event; return its output lines, each with its job (None: all),
        then the task result it brings, with its job."""
        kind, data = event["event"], event["event_data"]
        if kind in TASK_STARTS:
            self._positions.setdefault(data["task_uuid"] or "", len(self._positions))
        job = self.jobs.get(data["host"] or "")
        result = None if job is None else self._result(job, kind, data)
        if kind == "playbook_on_stats":
            self._recap(data)
        level = _level(event)
        at = _timestamp(event["created"])
        found: list[tuple[int | None, Line | TaskResult]] = [
            (
                self._recap_line_job(text) if kind == "playbook_on_stats" else job,
                Line(text, "warning" if text.startswith("[WARNING]") else level, at),
            )
            for text in (event["stdout"] or "").splitlines()
        ]
        if result is not None:
            found.append((job, result))
        return found

    def _result(self, job: int, kind: str, data: dict[str, Any]) -> TaskResult | None:
        if kind in FAILED_EVENTS and not data["ignore_errors"]:
            self.failures.setdefault(job, self._failure(kind, data))
        status = RESULTS.get(kind)
        if status is None:
            return None
        ignored = status == "failed" and data["ignore_errors"]
        position = self._positions.setdefault(data["task_uuid"] or "", len(self._positions))
        duration = data["duration"]
        return TaskResult(
            position=position,
            task=(data["task"] or "?")[:500],
            status="ignored" if ignored else status,
            changed=data["res"]["changed"],
            duration_ms=None if duration is None else round(duration * 1000),
        )

    def _failure(self, kind: str, data: dict[str, Any]) -> str:
        message = (data["res"]["msg"] or data["res"]["stderr"] or "no message").strip()
        host = data["host"] or "?"
        if kind == "runner_on_unreachable":
            # ssh's own words, unless the relay could not reach the host: ssh then only
            # says its ProxyCommand passed back no connection.
            address = self.addresses.get(host)
            why = None if address is None else self.network_failures.get(address)
            return f"host {host} unreachable: {why or message}"
        return f"task {data['task'] or '?'!r} failed on {host}: {message}"

    def _recap(self, data: dict[str, Any]) -> None:
        for hostname, job in self.jobs.items():
            counts = {name: data[name].get(hostname, 0) for name in STATS_FIELDS}
            counts["unreachable"] = counts.pop("dark")
            if any(hostname in data[name] for name in STATS_FIELDS):
                self.recaps[job] = {name: counts[name] for name in RECAP_FIELDS}

    def _recap_line_job(self, text: str) -> int | None:
        """The job of a recap line ("web-1 : ok=2 changed=1 …"), or None (the banner)."""
        name, colon, _ = text.partition(" ")
        return self.jobs.get(name) if colon and ": ok=" in text else None

    def outcomes(
        self, end: dict[str, Any], cancel: asyncio.Event, returncode: int, stderr: str
    ) -> Outcomes:
        if cancel.is_set():
            return self.plan.each(Outcome(JobStatus.cancelled, "cancelled while running"))
        result = end.get("end")
        if not isinstance(result, dict):
            reason = end.get("error") or stderr or f"it exited with {returncode}"
            log.error("the job process ended without a result: %s", reason)
            error = f"could not run the playbook: {reason}"[:4000]
            return self.plan.each(Outcome(JobStatus.failed, error))
        return {target.job_id: self._outcome(target.job_id, result) for target in self.plan.targets}

    def _outcome(self, job: int, result: dict[str, Any]) -> Outcome:
        recap = self.recaps.get(job)
        failure = self.failures.get(job)
        if failure is None and recap is not None:
            return Outcome(JobStatus.success, None, recap)
        if failure is None and result.get("status") == "successful":
            return Outcome(JobStatus.success, None, recap)  # no play matched it
        if result.get("status") == "timeout":
            limit = self.plan.options.timeout_seconds
            reason = f"stopped by its time limit ({limit}s) before its play ended"
            return Outcome(JobStatus.failed, reason, recap, timed_out=True)
        rc = f"(rc {result.get('rc')})"
        reason = failure or f"ansible-playbook ended {result.get('status')} before reaching it"
        return Outcome(JobStatus.failed, f"{reason} {rc}"[:4000], recap)


def _level(event: dict[str, Any]) -> str:
    if event["event"] in FAILED_EVENTS:
        return "warning" if event["event_data"]["ignore_errors"] else "error"
    if event["event"] == "warning":
        return "warning"
    return "info"


def _timestamp(created: object) -> datetime:
    if not isinstance(created, str):
        return utcnow()
    try:
        moment = datetime.fromisoformat(created)
    except ValueError:
        return utcnow()
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def remove(dirs: sandbox.RunDirs) -> None:
    """Stop every process of the run (their command lines name its directory, whose
    name is unique) and remove its directories."""
    stop_processes(dirs.root.name)
    shutil.rmtree(dirs.root, ignore_errors=True)
    shutil.rmtree(dirs.agent, ignore_errors=True)


def sweep(settings: Settings, keep: set[int]) -> list[Path]:
    """Remove this installation's run directories (and any process still using them) of
    jobs not in ``keep``: what a worker killed outright (SIGKILL, OOM, power loss) left
    behind. Returns what was removed."""
    base = settings.job_work_dir or Path(tempfile.gettempdir())
    prefix = run_prefix(settings)
    name = re.compile(rf"^{re.escape(prefix)}(\d+)-")
    removed = []
    for directory in base.glob(f"{prefix}*"):
        match = name.match(directory.name)
        if (
            match is None
            or int(match.group(1)) in keep
            or directory.name.endswith(sandbox.AGENT_SUFFIX)
            or not directory.is_dir()
        ):
            continue
        remove(sandbox.RunDirs(directory))
        removed.append(directory)
    return removed


def stop_processes(marker: str) -> None:
    """SIGTERM every process whose command line contains ``marker``, then SIGKILL those
    still there after a grace period. Linux (/proc); elsewhere a no-op."""
    victims = processes_naming(marker)
    _signal(victims, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    while victims and time.monotonic() < deadline:
        time.sleep(0.05)
        victims = processes_naming(marker) & victims
    _signal(victims, signal.SIGKILL)


def processes_naming(marker: str) -> set[int]:
    needle = marker.encode()
    found = set()
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if needle in (entry / "cmdline").read_bytes():
                found.add(int(entry.name))
        except OSError:
            continue  # gone meanwhile, or not ours to read
    found.discard(os.getpid())
    return found


def _signal(pids: set[int], signum: signal.Signals) -> None:
    for pid in pids:
        try:
            os.kill(pid, signum)
        except (ProcessLookupError, PermissionError):
            continue
