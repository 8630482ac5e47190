"""Running one playbook against one host with ansible-runner, its output as lines.

Every run gets a private directory (``sandbox.RunDirs``): its inputs, ansible-runner's
artifacts, the playbook's home with ``ANSIBLE_HOME``, SSH control paths, known_hosts and
the socket of an ssh-agent that holds the run's key. The playbook runs confined
(``sandbox.py``); the directory is removed afterwards whatever happens. SSH connection
sharing is off (``ControlMaster=no``) so one job can never reuse another's authenticated
connection. Cancelling stops every process whose command line names the run's directory:
the sandbox, the controller, its workers (which ``setsid()`` themselves out of the process
group ansible-runner kills), their ssh clients, whose exit hangs up the remote command,
and the agent.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ansible_runner
import yaml

from opsledger.config import Settings
from opsledger.db.base import utcnow
from opsledger.jobs.models import JobStatus
from opsledger.jobs.plans import Line, Outcome, Plan
from opsledger.playbooks.files import current_hash
from opsledger.worker import sandbox

log = logging.getLogger(__name__)

FAILED_EVENTS = frozenset({"runner_on_failed", "runner_on_unreachable", "runner_item_on_failed"})
STOP_GRACE_SECONDS = 3.0
RUN_PREFIX = "opsledger-job-"
RUN_NAME = re.compile(rf"^{RUN_PREFIX}(\d+)-")
WITHHELD_PREFIX = "OPSLEDGER_"
WITHHELD_NAMES = frozenset({"SSH_AUTH_SOCK"})


Emit = Callable[[Line], Awaitable[Any]]


async def execute(plan: Plan, settings: Settings, emit: Emit, cancel: threading.Event) -> Outcome:
    """Run the plan; every output line goes to ``emit`` in order. Setting ``cancel``
    stops the run (within a fraction of a second) and the outcome is cancelled."""
    found = await current_hash(plan.playbook_path)
    if found != plan.playbook_hash:
        why = "is missing" if found is None else "changed since it was registered"
        return await _refuse(
            emit, f"playbook file {plan.playbook_path} {why} (SHA-256 check failed); not run"
        )
    if (why_not := await asyncio.to_thread(sandbox.problem, settings)) is not None:
        return await _refuse(emit, f"cannot run playbooks: {why_not}")
    root = settings.job_work_dir
    if root is not None:
        await asyncio.to_thread(root.mkdir, parents=True, exist_ok=True)
    workdir = Path(
        await asyncio.to_thread(tempfile.mkdtemp, prefix=f"{RUN_PREFIX}{plan.job_id}-", dir=root)
    )
    dirs = sandbox.RunDirs(workdir)
    try:
        account = sandbox.runner_account(settings)
        await asyncio.to_thread(sandbox.prepare, dirs, account)
        agent = sandbox.Agent(dirs, account)
        try:
            await asyncio.to_thread(agent.start)
            await asyncio.to_thread(agent.add, _key_text(plan), plan.key_path)
            return await _run(plan, settings, dirs, account, emit, cancel)
        finally:
            await asyncio.to_thread(agent.stop)
    except sandbox.SandboxError as exc:
        return await _refuse(emit, str(exc))
    finally:
        # Whatever happened: no process of this run outlives it, nothing of it stays.
        await asyncio.to_thread(remove, dirs)


async def _refuse(emit: Emit, error: str) -> Outcome:
    await emit(Line(f"opsledger: {error}", "error", utcnow()))
    return Outcome(JobStatus.failed, error)


def _key_text(plan: Plan) -> str | None:
    return None if plan.private_key is None else plan.private_key.get_secret_value()


async def _run(
    plan: Plan,
    settings: Settings,
    dirs: sandbox.RunDirs,
    account: sandbox.Account | None,
    emit: Emit,
    cancel: threading.Event,
) -> Outcome:
    kwargs = await asyncio.to_thread(_prepare, plan, settings, dirs, account)
    loop = asyncio.get_running_loop()
    events: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
    result: dict[str, Any] = {}

    def on_event(event: dict[str, Any]) -> bool:
        loop.call_soon_threadsafe(events.put_nowait, event)
        return False  # nothing to keep on disk: the database has every line

    def should_stop() -> bool:
        if cancel.is_set():
            stop_processes(dirs.root.name)
            return True
        return False

    def work() -> None:
        try:
            result["runner"] = ansible_runner.run(
                **kwargs, event_handler=on_event, cancel_callback=should_stop
            )
        except Exception as exc:  # reported as the job's error, below
            result["error"] = exc
        finally:
            loop.call_soon_threadsafe(events.put_nowait, None)

    threading.Thread(target=work, name=f"opsledger-job-{plan.job_id}", daemon=True).start()
    failures: list[str] = []
    while (event := await events.get()) is not None:
        for line in lines_of(event):
            await emit(line)
        if event.get("event") in FAILED_EVENTS and not _ignored(event):
            failures.append(_failure(event))
    return _outcome(result, failures, cancel)


def _prepare(
    plan: Plan, settings: Settings, dirs: sandbox.RunDirs, account: sandbox.Account | None
) -> dict[str, Any]:
    """Write the run's inputs and launcher; return ansible-runner's arguments."""
    host_vars: dict[str, Any] = {
        "ansible_host": plan.address,
        "ansible_port": plan.port,
        "ansible_user": plan.user,
        "ansible_ssh_private_key_file": str(dirs.identity),
    }
    inventory = dirs.inputs / "inventory.yml"
    # Data too: a credential's username or a hostname is never a template.
    inventory.write_text(unsafe_yaml({"all": {"hosts": {plan.hostname: host_vars}}}))
    # Variables go in as data, never templates: every string is !unsafe to Ansible, so
    # a value like "{{ lookup('file', …) }}" stays that text.
    (dirs.inputs / "extravars").write_text(unsafe_yaml(plan.variables))
    launcher = sandbox.write_launcher(dirs, settings, account, plan.playbook_path)
    return {
        "private_data_dir": str(dirs.private),
        "ident": sandbox.IDENT,
        "binary": str(dirs.launcher),
        "inventory": str(inventory),
        "envvars": {**_withheld_environment(), **launcher},
        "settings": {"pexpect_timeout": 0.2, "suppress_ansible_output": True},
        "quiet": True,
    }


def _withheld_environment() -> dict[str, str]:
    """ansible-runner records this process's environment in its artifacts, which stay
    the server's: blank out opsledger's keys, database URL and token secret all the
    same. (The playbook's environment is the launcher's own, built from nothing.)"""
    return {
        name: ""
        for name in os.environ
        if name.startswith(WITHHELD_PREFIX) or name in WITHHELD_NAMES
    }


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


def lines_of(event: dict[str, Any]) -> list[Line]:
    """The event's output, one Line per line (ansible writes ``\\r\\n``)."""
    stdout = event.get("stdout") or ""
    if not stdout:
        return []
    level = _level(event)
    at = _timestamp(event.get("created"))
    return [
        Line(text, "warning" if text.startswith("[WARNING]") else level, at)
        for text in stdout.splitlines()
    ]


def _level(event: dict[str, Any]) -> str:
    if event.get("event") in FAILED_EVENTS:
        return "warning" if _ignored(event) else "error"
    if event.get("event") == "warning":
        return "warning"
    return "info"


def _ignored(event: dict[str, Any]) -> bool:
    return bool((event.get("event_data") or {}).get("ignore_errors"))


def _timestamp(created: object) -> datetime:
    if not isinstance(created, str):
        return utcnow()
    try:
        moment = datetime.fromisoformat(created)
    except ValueError:
        return utcnow()
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _failure(event: dict[str, Any]) -> str:
    data = event.get("event_data") or {}
    result = data.get("res") or {}
    message = str(result.get("msg") or result.get("stderr") or "no message").strip()
    if event.get("event") == "runner_on_unreachable":
        return f"host {data.get('host', '?')} unreachable: {message}"
    return f"task {data.get('task', '?')!r} failed on {data.get('host', '?')}: {message}"


def _outcome(result: dict[str, Any], failures: list[str], cancel: threading.Event) -> Outcome:
    if cancel.is_set():
        return Outcome(JobStatus.cancelled, "cancelled while running")
    if "error" in result:
        failure = result["error"]
        log.error("ansible-runner failed to run a job", exc_info=failure)
        return Outcome(JobStatus.failed, f"could not run the playbook: {type(failure).__name__}")
    runner = result["runner"]
    if runner.status == "successful":
        return Outcome(JobStatus.success)
    reason = failures[0] if failures else f"ansible-playbook ended {runner.status}"
    return Outcome(JobStatus.failed, f"{reason} (rc {runner.rc})"[:4000])


def remove(dirs: sandbox.RunDirs) -> None:
    """Stop every process of the run (their command lines name its directory, whose
    name is unique) and remove its directories."""
    stop_processes(dirs.root.name)
    shutil.rmtree(dirs.root, ignore_errors=True)
    shutil.rmtree(dirs.agent, ignore_errors=True)


def sweep(root: Path | None, keep: set[int]) -> list[Path]:
    """Remove the run directories (and any process still using them) of jobs not in
    ``keep``: what a worker killed outright (SIGKILL, OOM, power loss) left behind.
    Returns what was removed."""
    base = root or Path(tempfile.gettempdir())
    removed = []
    for directory in base.glob(f"{RUN_PREFIX}*"):
        match = RUN_NAME.match(directory.name)
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
