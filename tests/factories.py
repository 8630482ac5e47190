"""Rows for tests, flushed through the real models: ``await make_host(session)``."""

from __future__ import annotations

import hashlib
import itertools
import os
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.models import (
    ApiKey,
    Application,
    AuditLog,
    Credential,
    Deployment,
    DeploymentReplica,
    DeploymentResource,
    DeploymentStatusHistory,
    FreezeWindow,
    Host,
    HostLock,
    HostRole,
    Infrastructure,
    Job,
    JobLog,
    JobTask,
    JobTemplate,
    MonitoringAlert,
    NotificationAttempt,
    NotificationChannel,
    NotificationDelivery,
    NotificationRule,
    Playbook,
    Run,
    Schedule,
    ScheduleFire,
    Secret,
    Ticket,
    Trigger,
    TriggerDelivery,
    User,
)
from opsledger.schedules.models import FireOutcome
from opsledger.triggers.models import DeliveryOutcome

_serial = itertools.count(1)
# xdist workers share the machine's Redis, the sshd user's home and the playbook root:
# names they make must differ between workers too.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")


def unique(prefix: str) -> str:
    return f"{prefix}-{_WORKER}{next(_serial)}"


async def add(session: AsyncSession, row: Any) -> Any:
    session.add(row)
    await session.flush()
    return row


async def make_user(session: AsyncSession, **fields: Any) -> User:
    name = unique("user")
    defaults = {"username": name, "email": f"{name}@example.test", "password_hash": "$2b$12$x"}
    return await add(session, User(**(defaults | fields)))


async def make_api_key(session: AsyncSession, user: User, **fields: Any) -> ApiKey:
    prefix = unique("k")
    defaults = {
        "user_id": user.id,
        "name": prefix,
        "prefix": prefix,
        "key_hash": hashlib.sha256(prefix.encode()).hexdigest(),
    }
    return await add(session, ApiKey(**(defaults | fields)))


async def make_secret(session: AsyncSession, user: User, **fields: Any) -> Secret:
    defaults = {"user_id": user.id, "service_name": "aws", "key_name": unique("key"), "value": "s"}
    return await add(session, Secret(**(defaults | fields)))


async def make_role(session: AsyncSession, **fields: Any) -> HostRole:
    return await add(session, HostRole(**({"name": unique("role")} | fields)))


async def make_playbook(session: AsyncSession, **fields: Any) -> Playbook:
    name = unique("playbook")
    defaults = {"name": name, "file_path": f"{name}.yml", "file_hash": "0" * 64}
    return await add(session, Playbook(**(defaults | fields)))


async def make_template(session: AsyncSession, **fields: Any) -> JobTemplate:
    if "playbook_id" not in fields:
        fields["playbook_id"] = (await make_playbook(session)).id
    defaults = {"name": unique("template"), "selector": {}}
    return await add(session, JobTemplate(**(defaults | fields)))


async def make_host(session: AsyncSession, **fields: Any) -> Host:
    defaults = {"hostname": unique("host"), "ip_address": "192.0.2.10", "os_type": "debian"}
    return await add(session, Host(**(defaults | fields)))


async def make_credential(session: AsyncSession, host: Host, **fields: Any) -> Credential:
    defaults = {"host_id": host.id, "type": "ssh_key", "username": "deploy", "value": "k"}
    return await add(session, Credential(**(defaults | fields)))


async def make_job(session: AsyncSession, **fields: Any) -> Job:
    if "playbook_id" not in fields:
        fields["playbook_id"] = (await make_playbook(session)).id
    if "host_id" not in fields:
        fields["host_id"] = (await make_host(session)).id
    if "user_id" not in fields:
        fields["user_id"] = (await make_user(session)).id
    return await add(session, Job(**fields))


async def make_run(session: AsyncSession, **fields: Any) -> Run:
    if "playbook_id" not in fields:
        fields["playbook_id"] = (await make_playbook(session)).id
    if "user_id" not in fields:
        fields["user_id"] = (await make_user(session)).id
    defaults = {"selector": {}, "host_ids": [], "options": {}, "batches": 1}
    return await add(session, Run(**(defaults | fields)))


async def make_schedule(session: AsyncSession, **fields: Any) -> Schedule:
    if "template_id" not in fields:
        fields["template_id"] = (await make_template(session)).id
    if "user_id" not in fields:
        fields["user_id"] = (await make_user(session)).id
    defaults = {"name": unique("schedule"), "launch": {}, "cron": "0 3 * * *"}
    return await add(session, Schedule(**(defaults | fields)))


async def make_fire(session: AsyncSession, **fields: Any) -> ScheduleFire:
    if "schedule_id" not in fields:
        fields["schedule_id"] = (await make_schedule(session)).id
    defaults = {"due_at": datetime.now(UTC), "outcome": FireOutcome.launched}
    return await add(session, ScheduleFire(**(defaults | fields)))


async def make_window(session: AsyncSession, **fields: Any) -> FreezeWindow:
    defaults = {"name": unique("freeze"), "starts_at": datetime.now(UTC)}
    return await add(session, FreezeWindow(**(defaults | {"ends_at": datetime.now(UTC)} | fields)))


async def make_trigger(session: AsyncSession, **fields: Any) -> Trigger:
    if "template_id" not in fields:
        fields["template_id"] = (await make_template(session)).id
    if "user_id" not in fields:
        fields["user_id"] = (await make_user(session)).id
    defaults = {"name": unique("trigger"), "secret": "s", "prompts": {}, "rate_per_minute": 10}
    return await add(session, Trigger(**(defaults | fields)))


async def make_trigger_delivery(session: AsyncSession, **fields: Any) -> TriggerDelivery:
    if "trigger_id" not in fields:
        fields["trigger_id"] = (await make_trigger(session)).id
    defaults = {
        "outcome": DeliveryOutcome.refused,
        "status_code": 401,
        "body_bytes": 0,
        "body_sha256": "0" * 64,
    }
    return await add(session, TriggerDelivery(**(defaults | fields)))


async def make_job_task(session: AsyncSession, job: Job) -> JobTask:
    return await add(
        session, JobTask(job_id=job.id, position=0, task="t", status="ok", changed=False)
    )


async def make_host_lock(session: AsyncSession, **fields: Any) -> HostLock:
    if "host_id" not in fields:
        fields["host_id"] = (await make_host(session)).id
    if "job_id" not in fields:
        fields["job_id"] = (await make_job(session)).id
    return await add(session, HostLock(**fields))


async def make_job_log(session: AsyncSession, job: Job, line_number: int = 1) -> JobLog:
    return await add(
        session,
        JobLog(job_id=job.id, job_created=job.created_at, line_number=line_number, content="ok"),
    )


async def make_ticket(session: AsyncSession, **fields: Any) -> Ticket:
    if "job_id" not in fields:
        fields["job_id"] = (await make_job(session)).id
    if "created_by" not in fields:
        fields["created_by"] = (await make_user(session)).id
    return await add(session, Ticket(**({"title": unique("ticket")} | fields)))


async def make_application(session: AsyncSession, **fields: Any) -> Application:
    return await add(session, Application(**({"name": unique("app")} | fields)))


async def make_infrastructure(session: AsyncSession, **fields: Any) -> Infrastructure:
    return await add(
        session, Infrastructure(**({"name": unique("infra"), "provider": "aws"} | fields))
    )


async def make_deployment(session: AsyncSession, **fields: Any) -> Deployment:
    if "user_id" not in fields:
        fields["user_id"] = (await make_user(session)).id
    defaults = {"name": unique("web"), "image": "nginx:1.27", "target_replicas": 1}
    return await add(session, Deployment(**(defaults | fields)))


async def make_replica(
    session: AsyncSession, deployment: Deployment, **fields: Any
) -> DeploymentReplica:
    return await add(session, DeploymentReplica(**({"deployment_id": deployment.id} | fields)))


async def make_resources(
    session: AsyncSession, deployment: Deployment, **fields: Any
) -> DeploymentResource:
    defaults = {
        "deployment_id": deployment.id,
        "cpu_cores": 1.0,
        "memory_mb": 1024,
        "storage_gb": 10,
    }
    return await add(session, DeploymentResource(**(defaults | fields)))


async def make_history(
    session: AsyncSession, deployment: Deployment, **fields: Any
) -> DeploymentStatusHistory:
    defaults = {"deployment_id": deployment.id, "to_status": "pending"}
    return await add(session, DeploymentStatusHistory(**(defaults | fields)))


async def make_alert(session: AsyncSession, **fields: Any) -> MonitoringAlert:
    defaults = {"source": "test", "severity": "warning", "title": unique("alert")}
    return await add(session, MonitoringAlert(**(defaults | fields)))


async def make_audit_row(session: AsyncSession, **fields: Any) -> AuditLog:
    digest = hashlib.sha256(unique("audit").encode()).hexdigest()
    defaults = {
        "action": "create",
        "resource_type": "host",
        "timestamp": datetime.now(UTC),
        "hash": digest,
    }
    return await add(session, AuditLog(**(defaults | fields)))


async def make_channel(session: AsyncSession, **fields: Any) -> NotificationChannel:
    defaults = {"name": unique("channel"), "kind": "webhook", "url": "https://hooks.example/x"}
    return await add(session, NotificationChannel(**(defaults | fields)))


async def make_rule(session: AsyncSession, **fields: Any) -> NotificationRule:
    if "channel_id" not in fields:
        fields["channel_id"] = (await make_channel(session)).id
    return await add(session, NotificationRule(**({"event": "job.failed"} | fields)))


async def make_delivery(session: AsyncSession, **fields: Any) -> NotificationDelivery:
    if "channel_id" not in fields:
        fields["channel_id"] = (await make_channel(session)).id
    defaults = {
        "event": "job.failed",
        "payload": {},
        "tries_left": 1,
        "next_attempt_at": datetime.now(UTC),
    }
    return await add(session, NotificationDelivery(**(defaults | fields)))


async def make_attempt(session: AsyncSession, **fields: Any) -> NotificationAttempt:
    if "delivery_id" not in fields:
        fields["delivery_id"] = (await make_delivery(session)).id
    defaults = {"number": 1, "ok": True, "duration_ms": 1}
    return await add(session, NotificationAttempt(**(defaults | fields)))
