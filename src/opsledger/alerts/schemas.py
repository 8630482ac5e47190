"""The alerts wire format, including Alertmanager's webhook body."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StringConstraints

from opsledger.alerts.models import AlertSeverity, AlertStatus
from opsledger.kit.filtering import ListQuery
from opsledger.kit.schemas import MAX_ID, Instant, RequestSchema, ResponseSchema, StrictInput, Text

Source = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Title = Annotated[str, StringConstraints(min_length=1, max_length=255)]
Fingerprint = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Labels = Annotated[
    dict[Annotated[str, StringConstraints(max_length=200)], str], Field(max_length=100)
]


class AlertCreate(RequestSchema):
    source: Source
    severity: AlertSeverity
    title: Title
    description: Text | None = None
    labels: Labels | None = None
    fingerprint: Fingerprint | None = Field(
        None, description="Repeated alerts with the same fingerprint update one alert."
    )
    host_id: int | None = Field(None, ge=1, le=MAX_ID)
    deployment_id: int | None = Field(None, ge=1, le=MAX_ID)


class AlertRead(ResponseSchema):
    id: int
    source: str
    severity: AlertSeverity
    title: str
    description: str | None
    labels: dict[str, Any] | None
    fingerprint: str | None
    status: AlertStatus
    host_id: int | None
    deployment_id: int | None
    starts_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: int | None
    resolved_at: datetime | None
    remediation_run_id: int | None = Field(
        description="The run a trigger's alert matchers launched for this alert."
    )
    remediation: str | None = Field(description="What came of the remediation, if any.")
    created_at: datetime
    updated_at: datetime


class AlertQuery(ListQuery):
    status: AlertStatus | None = None
    severity: AlertSeverity | None = None
    host_id: int | None = Field(None, ge=1, le=MAX_ID)
    deployment_id: int | None = Field(None, ge=1, le=MAX_ID)
    source: Source | None = None


class WebhookAlert(StrictInput):
    """One alert of an Alertmanager webhook (extra fields Alertmanager adds are ignored)."""

    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: Labels = Field(default_factory=dict)
    annotations: Labels = Field(default_factory=dict)
    startsAt: Instant | None = None
    fingerprint: Fingerprint | None = None


class AlertmanagerWebhook(StrictInput):
    model_config = ConfigDict(extra="ignore")

    version: str = "4"
    status: Literal["firing", "resolved"] = "firing"
    alerts: Annotated[list[WebhookAlert], Field(max_length=1000)]


class WebhookResult(ResponseSchema):
    created: int
    updated: int
    resolved: int
