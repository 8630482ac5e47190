"""Every domain's models, imported once so the metadata (and Alembic) sees all tables."""

from opsledger.alerts.models import MonitoringAlert
from opsledger.api_keys.models import ApiKey
from opsledger.applications.models import Application
from opsledger.audit.models import AuditChain, AuditLog, AuditPurgeGuard
from opsledger.credentials.models import Credential
from opsledger.db.base import Base
from opsledger.deployments.models import (
    Deployment,
    DeploymentReplica,
    DeploymentResource,
    DeploymentStatusHistory,
)
from opsledger.freeze_windows.models import FreezeWindow
from opsledger.host_roles.models import HostRole
from opsledger.hosts.models import Host
from opsledger.infrastructure.models import Infrastructure
from opsledger.jobs.models import HostLock, Job, JobLog, JobTask
from opsledger.notifications.models import (
    NotificationAttempt,
    NotificationChannel,
    NotificationDelivery,
    NotificationRule,
)
from opsledger.playbooks.models import Playbook
from opsledger.runs.models import Run
from opsledger.schedules.models import Schedule, ScheduleFire
from opsledger.secrets.models import Secret
from opsledger.templates.models import JobTemplate
from opsledger.tickets.models import Ticket
from opsledger.triggers.models import Trigger, TriggerDelivery
from opsledger.users.models import RevokedToken, User

metadata = Base.metadata

__all__ = [
    "ApiKey",
    "Application",
    "AuditChain",
    "AuditLog",
    "AuditPurgeGuard",
    "Credential",
    "Deployment",
    "DeploymentReplica",
    "DeploymentResource",
    "DeploymentStatusHistory",
    "FreezeWindow",
    "Host",
    "HostLock",
    "HostRole",
    "Infrastructure",
    "Job",
    "JobLog",
    "JobTask",
    "JobTemplate",
    "MonitoringAlert",
    "NotificationAttempt",
    "NotificationChannel",
    "NotificationDelivery",
    "NotificationRule",
    "Playbook",
    "RevokedToken",
    "Run",
    "Schedule",
    "ScheduleFire",
    "Secret",
    "Ticket",
    "Trigger",
    "TriggerDelivery",
    "User",
    "metadata",
]
