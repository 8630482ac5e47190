"""The runs wire format: a launch across hosts, its hosts' results and its task matrix."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from opsledger.hosts.schemas import HostSelector
from opsledger.jobs.models import JobStatus
from opsledger.jobs.plans import RECAP_FIELDS
from opsledger.kit.filtering import ListQuery
from opsledger.kit.schemas import MAX_ID, OverrideReason, RequestSchema, ResponseSchema
from opsledger.templates.schemas import BatchSize, FailPercentage, Forks, PlaybookLaunch


class RunCreate(PlaybookLaunch):
    """An ad hoc run: a playbook on the hosts a selector matches now."""

    override_reason: OverrideReason = None


class FleetProvision(RequestSchema):
    """Provision every host a selector matches: each with its role's default playbook,
    one run per playbook."""

    selector: HostSelector
    forks: Forks = 5
    batch_size: BatchSize | None = None
    max_fail_percentage: FailPercentage = 0


class RelaunchHosts(StrEnum):
    failed = "failed"
    all = "all"


class RelaunchBody(RequestSchema):
    hosts: RelaunchHosts = Field(
        RelaunchHosts.failed,
        description="`failed`: the hosts that failed or were unreachable; `all`: every host.",
    )
    override_reason: OverrideReason = None


class Summary(ResponseSchema):
    """The run's play recaps added up, and how many of its hosts ended each way."""

    ok: int = 0
    changed: int = 0
    failures: int = 0
    unreachable: int = 0
    skipped: int = 0
    rescued: int = 0
    ignored: int = 0
    hosts: dict[str, int] = Field(
        default_factory=dict,
        description="Hosts per result: pending, running, success, failed, unreachable, cancelled.",
    )


class RunRead(ResponseSchema):
    id: int
    uuid: uuid.UUID
    template_id: int | None
    playbook_id: int
    user_id: int
    status: JobStatus
    reason: str | None
    override_reason: str | None = Field(
        description="An admin's reason to launch it inside a freeze window; its later "
        "batches go on past the windows only with one."
    )
    hosts: int = Field(description="How many hosts the run was launched on.")
    batches: int
    selector: dict[str, Any]
    options: dict[str, Any]
    extra_vars: dict[str, Any] | None = Field(description="Secret prompt values as ********.")
    relaunch_of: int | None
    summary: Summary
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None

    @classmethod
    def of(cls, run: Any, tally: dict[str, Any]) -> RunRead:
        """The run with its tally (``runs.repository.tallies``)."""
        fields = {name: getattr(run, name) for name in cls.model_fields if hasattr(run, name)}
        summary = Summary(
            **{name: tally.get(name, 0) for name in RECAP_FIELDS}, hosts=tally["hosts"]
        )
        return cls.model_validate({**fields, "hosts": len(run.host_ids), "summary": summary})


def host_result(job: Any) -> str:
    """A job's status, with a failure that was the host being unreachable told apart."""
    if job.status == JobStatus.failed and (job.unreachable or 0) > 0:
        return "unreachable"
    return str(job.status)


class RunHostRead(ResponseSchema):
    job_id: int
    host_id: int
    hostname: str
    batch: int
    status: str = Field(description="The job's status, or `unreachable` when it failed so.")
    ok: int | None
    changed: int | None
    failures: int | None
    unreachable: int | None
    skipped: int | None
    rescued: int | None
    ignored: int | None
    error_message: str | None
    waiting_reason: str | None


class RunTaskRead(ResponseSchema):
    id: int
    position: int
    task: str
    job_id: int
    host_id: int
    status: str
    changed: bool
    duration_ms: int | None


class RunQuery(ListQuery):
    status: JobStatus | None = None
    playbook_id: int | None = Field(None, ge=1, le=MAX_ID)
    user_id: int | None = Field(None, ge=1, le=MAX_ID)


class RunList(ResponseSchema):
    items: list[RunRead]
