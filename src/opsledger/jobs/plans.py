"""What a run of a job needs and what it gives back: the plan a runner receives when the
job is claimed, the lines it prints and how it ended. The jobs domain builds and records
these; the worker runs them (and only its sandboxed job process loads ansible-runner)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import SecretStr

from opsledger.jobs.models import JobStatus


@dataclass(frozen=True)
class Plan:
    """What one run needs, read from the database when the job is claimed."""

    job_id: int
    job_created: datetime
    hostname: str
    address: str
    port: int
    user: str
    playbook_path: str
    playbook_hash: str
    variables: dict[str, Any]
    private_key: SecretStr | None = field(default=None, repr=False)
    key_path: str | None = None  # used when there is no key credential


@dataclass(frozen=True)
class Line:
    content: str
    level: str
    at: datetime


@dataclass(frozen=True)
class Outcome:
    status: JobStatus
    error: str | None = None
