"""The tickets wire format."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from opsledger.kit.filtering import ListQuery
from opsledger.kit.schemas import MAX_ID, RequestSchema, ResponseSchema, Text, UpdateSchema
from opsledger.tickets.models import TicketPriority, TicketStatus

Title = Annotated[str, StringConstraints(min_length=1, max_length=255)]


class TicketCreate(RequestSchema):
    job_id: int = Field(ge=1, le=MAX_ID)
    title: Title
    description: Text | None = None
    priority: TicketPriority = TicketPriority.medium


class TicketUpdate(UpdateSchema):
    nullable = frozenset({"description"})

    title: Title | None = None
    description: Text | None = None
    priority: TicketPriority | None = Field(
        None, description="Changing the priority moves the due date to the new SLA."
    )


class TicketTransition(RequestSchema):
    status: TicketStatus


class TicketRead(ResponseSchema):
    id: int
    uuid: uuid.UUID
    job_id: int
    created_by: int
    title: str
    description: str | None
    status: TicketStatus
    priority: TicketPriority
    due_at: datetime | None
    resolved_at: datetime | None
    created_at: datetime
    updated_at: datetime


class TicketQuery(ListQuery):
    status: TicketStatus | None = None
    priority: TicketPriority | None = None
    job_id: int | None = Field(None, ge=1, le=MAX_ID)
    created_by: int | None = Field(None, ge=1, le=MAX_ID)
    overdue: bool | None = Field(None, description="Open or in progress, and past its due date.")

    def filters(self) -> dict[str, object]:
        return self.model_dump(exclude={"limit", "after", "overdue"}, exclude_none=True)
