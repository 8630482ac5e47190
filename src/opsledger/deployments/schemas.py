"""The deployments wire format, with the resource bounds every deployment must keep."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from opsledger.deployments.models import DeploymentStatus, ReplicaStatus
from opsledger.kit.filtering import ListQuery
from opsledger.kit.schemas import MAX_ID, RequestSchema, ResponseSchema, Text

DeploymentName = Annotated[
    str, StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")
]
Image = Annotated[str, StringConstraints(min_length=1, max_length=500)]
Version = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Replicas = Annotated[int, Field(ge=1, le=100)]


class Resources(RequestSchema):
    cpu_cores: float = Field(ge=0.5, le=32, description="Fractional cores allowed.")
    memory_mb: int = Field(ge=512, le=65536)
    gpu_units: int = Field(0, ge=0, le=8)
    storage_gb: int = Field(ge=1, le=1000)


class DeploymentCreate(RequestSchema):
    name: DeploymentName
    image: Image
    version: Version | None = None
    target_replicas: Replicas = 1
    application_id: int | None = Field(None, ge=1, le=MAX_ID)
    infrastructure_id: int | None = Field(None, ge=1, le=MAX_ID)
    resources: Resources


class DeploymentScale(RequestSchema):
    target_replicas: Replicas


class DeploymentStatusChange(RequestSchema):
    status: DeploymentStatus
    reason: Text | None = None


class ResourcesRead(ResponseSchema):
    cpu_cores: float
    memory_mb: int
    gpu_units: int
    storage_gb: int


class ReplicaRead(ResponseSchema):
    id: int
    host_id: int | None
    container_id: str | None
    status: ReplicaStatus
    started_at: datetime | None
    stopped_at: datetime | None


class StatusChangeRead(ResponseSchema):
    from_status: DeploymentStatus | None
    to_status: DeploymentStatus
    changed_by: int | None
    reason: str | None
    changed_at: datetime


class DeploymentRead(ResponseSchema):
    id: int
    uuid: uuid.UUID
    user_id: int
    application_id: int | None
    infrastructure_id: int | None
    name: str
    image: str
    version: str | None
    status: DeploymentStatus
    target_replicas: int
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


class DeploymentDetail(DeploymentRead):
    resources: ResourcesRead | None
    replicas: list[ReplicaRead]
    status_history: list[StatusChangeRead]


class DeploymentQuery(ListQuery):
    status: DeploymentStatus | None = None
    name: DeploymentName | None = None
    user_id: int | None = Field(
        None, ge=1, le=MAX_ID, description="Admins only; others see their own."
    )
    include_deleted: bool = False

    def filters(self) -> dict[str, object]:
        return self.model_dump(exclude={"limit", "after", "include_deleted"}, exclude_none=True)
