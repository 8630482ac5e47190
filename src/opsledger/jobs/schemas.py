"""The jobs wire format: jobs, and their log lines paged by line number."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field

from opsledger.jobs.models import JobStatus
from opsledger.kit.filtering import ListQuery
from opsledger.kit.schemas import (
    MAX_ID,
    Instant,
    OverrideReason,
    RequestSchema,
    ResponseSchema,
    StrictInput,
    Variables,
)

MAX_LOG_PAGE = 5000


class JobCreate(RequestSchema):
    playbook_id: int = Field(ge=1, le=MAX_ID)
    host_id: int = Field(ge=1, le=MAX_ID)
    extra_vars: Variables | None = Field(
        None,
        description="Merged over the playbook's and the host role's variables; passed as "
        "data (never templated); names starting `ansible_` are refused.",
    )
    override_reason: OverrideReason = None


class JobRead(ResponseSchema):
    id: int
    uuid: uuid.UUID
    playbook_id: int
    host_id: int
    user_id: int
    status: JobStatus
    celery_task_id: str | None
    extra_vars: dict[str, Any] | None
    error_message: str | None
    timed_out: bool = Field(description="Its time limit stopped it (it failed).")
    run_id: int | None = Field(description="The run this job is one host of, if any.")
    waiting_reason: str | None = Field(description="Why a pending job has not started.")
    started_at: datetime | None
    completed_at: datetime | None
    created_at: datetime


class JobQuery(ListQuery):
    status: JobStatus | None = None
    user_id: int | None = Field(None, ge=1, le=MAX_ID)
    host_id: int | None = Field(None, ge=1, le=MAX_ID)
    playbook_id: int | None = Field(None, ge=1, le=MAX_ID)
    since: Instant | None = Field(None, description="Created at or after.")
    until: Instant | None = Field(None, description="Created before.")

    def filters(self) -> dict[str, Any]:
        return self.model_dump(exclude={"limit", "after", "since", "until"}, exclude_none=True)


class LogQuery(StrictInput):
    after: int = Field(0, ge=0, le=MAX_ID, description="The last line number already read.")
    limit: int = Field(500, ge=1, le=MAX_LOG_PAGE)


class FollowQuery(StrictInput):
    after: int = Field(0, ge=0, le=MAX_ID, description="Start after this line number.")


class LogLineRead(ResponseSchema):
    line_number: int
    content: str
    log_level: str | None
    timestamp: datetime


class LogPage(ResponseSchema):
    items: list[LogLineRead]
    next_cursor: int | None = Field(
        description="Pass as `after` for the next page; null when no more lines are stored yet."
    )
