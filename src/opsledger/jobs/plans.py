"""What a run of a batch needs and what it gives back: the plan a runner receives when
the batch is claimed, the lines it prints and how each host's job ended. The jobs domain
builds and records these; the worker runs them (and only its sandboxed job process loads
ansible-runner).

A batch is the jobs that run together in one ansible-runner process: the hosts of one
batch of a run, or a job of its own."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import SecretStr

from opsledger.jobs.models import JobStatus


@dataclass(frozen=True)
class Target:
    """One host of the batch: its job, how to reach it, and its own variables (the
    playbook's defaults and its role's), which the inventory carries."""

    job_id: int
    job_created: datetime
    hostname: str
    address: str
    port: int
    user: str
    variables: dict[str, Any]
    private_key: SecretStr | None = field(default=None, repr=False)
    key_path: str | None = None  # used when there is no key credential


@dataclass(frozen=True)
class Options:
    """How ansible-playbook runs: its own options, as launched."""

    check: bool = False
    diff: bool = False
    verbosity: int = 0
    job_tags: tuple[str, ...] = ()
    skip_tags: tuple[str, ...] = ()
    forks: int = 5
    timeout_seconds: int | None = None


@dataclass(frozen=True)
class Plan:
    """What one batch needs, read from the database when it is claimed."""

    playbook_path: str
    playbook_hash: str
    targets: tuple[Target, ...]
    # The launch's own variables: extra vars, above everything else.
    extra_vars: dict[str, Any]
    options: Options = Options()
    run_id: int | None = None
    # Values no line the run prints may show (secret prompt values): masked as ********.
    secrets: tuple[str, ...] = field(default=(), repr=False)

    def each(self, outcome: Outcome) -> dict[int, Outcome]:
        """The same outcome for every job of the batch (it was refused, cancelled, …)."""
        return {target.job_id: outcome for target in self.targets}

    def redact(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, "********")
        return text

    @property
    def lead(self) -> Target:
        """The batch's first job: it names the batch's run directory."""
        return self.targets[0]


@dataclass(frozen=True)
class Line:
    content: str
    level: str
    at: datetime


@dataclass(frozen=True)
class TaskResult:
    """One task on one host: a cell of the task-by-host matrix. A task that runs again
    on the host (a handler notified after a flush) has its latest result there."""

    position: int
    task: str
    status: str  # ok, failed, skipped, unreachable, ignored
    changed: bool
    duration_ms: int | None


RECAP_FIELDS = ("ok", "changed", "failures", "unreachable", "skipped", "rescued", "ignored")


@dataclass(frozen=True)
class Outcome:
    status: JobStatus
    error: str | None = None
    # Ansible's play recap for the host (RECAP_FIELDS), when the play reached it. Its
    # task results were written as they came, with its lines (worker/ingest.py).
    recap: dict[str, int] | None = None
    # The run's time limit stopped ansible-playbook before this host's play ended.
    timed_out: bool = False
