"""Referential rules, unique constraints and range checks, enforced by each database."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import delete, func, inspect, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.models import (
    ApiKey,
    AuditLog,
    Credential,
    Deployment,
    DeploymentReplica,
    DeploymentResource,
    DeploymentStatusHistory,
    Host,
    HostLock,
    HostRole,
    Job,
    JobLog,
    JobTask,
    JobTemplate,
    MonitoringAlert,
    NotificationAttempt,
    NotificationDelivery,
    NotificationRule,
    Run,
    Schedule,
    ScheduleFire,
    Secret,
    Ticket,
    Trigger,
    TriggerDelivery,
    metadata,
)
from tests import factories as f

Make = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class Rule:
    """Deleting a row made by ``parent`` does ``action`` to the ``column`` of the row
    ``child`` makes for it."""

    column: Any
    action: str | None
    parent: Make
    child: Callable[[AsyncSession, Any], Awaitable[Any]]

    def __str__(self) -> str:
        return f"{self.column.table.name}.{self.column.name}"


RULES = [
    Rule(ApiKey.user_id, "CASCADE", f.make_user, f.make_api_key),
    Rule(Secret.user_id, "CASCADE", f.make_user, f.make_secret),
    Rule(
        Deployment.user_id, "CASCADE", f.make_user, lambda s, u: f.make_deployment(s, user_id=u.id)
    ),
    Rule(Credential.host_id, "CASCADE", f.make_host, f.make_credential),
    Rule(JobLog.job_id, "CASCADE", f.make_job, f.make_job_log),
    Rule(JobTask.job_id, "CASCADE", f.make_job, f.make_job_task),
    Rule(HostLock.job_id, "CASCADE", f.make_job, lambda s, j: f.make_host_lock(s, job_id=j.id)),
    Rule(HostLock.host_id, "CASCADE", f.make_host, lambda s, h: f.make_host_lock(s, host_id=h.id)),
    # NO ACTION, which the database checks at once like RESTRICT (see Job.run_id).
    Rule(Job.run_id, None, f.make_run, lambda s, r: f.make_job(s, run_id=r.id)),
    Rule(
        Run.playbook_id, "RESTRICT", f.make_playbook, lambda s, p: f.make_run(s, playbook_id=p.id)
    ),
    Rule(Run.user_id, "RESTRICT", f.make_user, lambda s, u: f.make_run(s, user_id=u.id)),
    Rule(Run.relaunch_of, "SET NULL", f.make_run, lambda s, r: f.make_run(s, relaunch_of=r.id)),
    Rule(
        Run.template_id, "SET NULL", f.make_template, lambda s, t: f.make_run(s, template_id=t.id)
    ),
    Rule(
        Schedule.template_id,
        "RESTRICT",
        f.make_template,
        lambda s, t: f.make_schedule(s, template_id=t.id),
    ),
    Rule(Schedule.user_id, "RESTRICT", f.make_user, lambda s, u: f.make_schedule(s, user_id=u.id)),
    Rule(
        Schedule.last_run_id,
        "SET NULL",
        f.make_run,
        lambda s, r: f.make_schedule(s, last_run_id=r.id),
    ),
    Rule(
        ScheduleFire.schedule_id,
        "CASCADE",
        f.make_schedule,
        lambda s, p: f.make_fire(s, schedule_id=p.id),
    ),
    Rule(ScheduleFire.run_id, "SET NULL", f.make_run, lambda s, r: f.make_fire(s, run_id=r.id)),
    Rule(
        Trigger.template_id,
        "RESTRICT",
        f.make_template,
        lambda s, t: f.make_trigger(s, template_id=t.id),
    ),
    Rule(Trigger.user_id, "RESTRICT", f.make_user, lambda s, u: f.make_trigger(s, user_id=u.id)),
    Rule(
        TriggerDelivery.trigger_id,
        "CASCADE",
        f.make_trigger,
        lambda s, t: f.make_trigger_delivery(s, trigger_id=t.id),
    ),
    Rule(
        TriggerDelivery.run_id,
        "SET NULL",
        f.make_run,
        lambda s, r: f.make_trigger_delivery(s, run_id=r.id),
    ),
    Rule(
        NotificationRule.channel_id,
        "CASCADE",
        f.make_channel,
        lambda s, c: f.make_rule(s, channel_id=c.id),
    ),
    Rule(
        NotificationRule.template_id,
        "CASCADE",
        f.make_template,
        lambda s, t: f.make_rule(s, template_id=t.id),
    ),
    Rule(
        NotificationDelivery.channel_id,
        "CASCADE",
        f.make_channel,
        lambda s, c: f.make_delivery(s, channel_id=c.id),
    ),
    Rule(
        NotificationDelivery.rule_id,
        "SET NULL",
        f.make_rule,
        lambda s, r: f.make_delivery(s, rule_id=r.id),
    ),
    Rule(
        NotificationAttempt.delivery_id,
        "CASCADE",
        f.make_delivery,
        lambda s, d: f.make_attempt(s, delivery_id=d.id),
    ),
    Rule(DeploymentReplica.deployment_id, "CASCADE", f.make_deployment, f.make_replica),
    Rule(DeploymentResource.deployment_id, "CASCADE", f.make_deployment, f.make_resources),
    Rule(DeploymentStatusHistory.deployment_id, "CASCADE", f.make_deployment, f.make_history),
    Rule(
        Job.playbook_id, "RESTRICT", f.make_playbook, lambda s, p: f.make_job(s, playbook_id=p.id)
    ),
    Rule(
        JobTemplate.playbook_id,
        "RESTRICT",
        f.make_playbook,
        lambda s, p: f.make_template(s, playbook_id=p.id),
    ),
    Rule(Job.host_id, "RESTRICT", f.make_host, lambda s, h: f.make_job(s, host_id=h.id)),
    Rule(Job.user_id, "RESTRICT", f.make_user, lambda s, u: f.make_job(s, user_id=u.id)),
    Rule(Ticket.job_id, "RESTRICT", f.make_job, lambda s, j: f.make_ticket(s, job_id=j.id)),
    Rule(
        Ticket.created_by, "RESTRICT", f.make_user, lambda s, u: f.make_ticket(s, created_by=u.id)
    ),
    Rule(
        Deployment.application_id,
        "RESTRICT",
        f.make_application,
        lambda s, a: f.make_deployment(s, application_id=a.id),
    ),
    Rule(
        Deployment.infrastructure_id,
        "RESTRICT",
        f.make_infrastructure,
        lambda s, i: f.make_deployment(s, infrastructure_id=i.id),
    ),
    Rule(
        AuditLog.user_id,
        "SET NULL",
        f.make_user,
        lambda s, u: f.make_audit_row(s, user_id=u.id, user_name=u.username),
    ),
    Rule(
        Host.host_role_id, "SET NULL", f.make_role, lambda s, r: f.make_host(s, host_role_id=r.id)
    ),
    Rule(
        HostRole.default_playbook_id,
        "SET NULL",
        f.make_playbook,
        lambda s, p: f.make_role(s, default_playbook_id=p.id),
    ),
    Rule(
        DeploymentReplica.host_id,
        "SET NULL",
        f.make_host,
        lambda s, h: _replica(s, host_id=h.id),
    ),
    Rule(
        DeploymentStatusHistory.changed_by,
        "SET NULL",
        f.make_user,
        lambda s, u: _history(s, changed_by=u.id),
    ),
    Rule(
        MonitoringAlert.host_id, "SET NULL", f.make_host, lambda s, h: f.make_alert(s, host_id=h.id)
    ),
    Rule(
        MonitoringAlert.deployment_id,
        "SET NULL",
        f.make_deployment,
        lambda s, d: f.make_alert(s, deployment_id=d.id),
    ),
    Rule(
        MonitoringAlert.acknowledged_by,
        "SET NULL",
        f.make_user,
        lambda s, u: f.make_alert(s, acknowledged_by=u.id),
    ),
    Rule(
        MonitoringAlert.remediation_run_id,
        "SET NULL",
        f.make_run,
        lambda s, r: f.make_alert(s, remediation_run_id=r.id),
    ),
]


async def _replica(session: AsyncSession, **fields: Any) -> DeploymentReplica:
    return await f.make_replica(session, await f.make_deployment(session), **fields)


async def _history(session: AsyncSession, **fields: Any) -> DeploymentStatusHistory:
    return await f.make_history(session, await f.make_deployment(session), **fields)


def test_every_foreign_key_has_its_rule_tested() -> None:
    declared = {
        (f"{fk.parent.table.name}.{fk.parent.name}", fk.ondelete)
        for table in metadata.tables.values()
        for fk in table.foreign_keys
    }
    assert declared == {(str(rule), rule.action) for rule in RULES}


async def row_count(session: AsyncSession, model: Any, row_id: int) -> int:
    key = inspect(model).primary_key[0]
    return int(await session.scalar(select(func.count()).select_from(model).where(key == row_id)))


def key_of(row: Any) -> int:
    return int(inspect(row).identity[0])


@pytest.mark.parametrize("rule", RULES, ids=str)
async def test_deleting_a_parent_applies_its_on_delete_rule(
    session: AsyncSession, rule: Rule
) -> None:
    parent = await rule.parent(session)
    child = await rule.child(session, parent)
    parent_model, child_model = type(parent), type(child)
    remove_parent = delete(parent_model).where(parent_model.id == parent.id)

    if rule.action in ("RESTRICT", None):
        with pytest.raises(IntegrityError):
            async with session.begin_nested():
                await session.execute(remove_parent)
        assert await row_count(session, parent_model, parent.id) == 1
        return

    await session.execute(remove_parent)
    assert await row_count(session, parent_model, parent.id) == 0
    if rule.action == "CASCADE":
        assert await row_count(session, child_model, key_of(child)) == 0
    else:
        column = getattr(child_model, rule.column.key)
        assert await session.scalar(select(column).where(child_model.id == child.id)) is None


UNIQUE_VALUES = [
    pytest.param(f.make_host, "hostname", id="hosts.hostname"),
    pytest.param(f.make_user, "username", id="users.username"),
    pytest.param(f.make_user, "email", id="users.email"),
    pytest.param(f.make_playbook, "name", id="playbooks.name"),
    pytest.param(f.make_role, "name", id="host_roles.name"),
    pytest.param(f.make_template, "name", id="job_templates.name"),
    pytest.param(f.make_schedule, "name", id="schedules.name"),
    pytest.param(f.make_window, "name", id="freeze_windows.name"),
    pytest.param(f.make_trigger, "name", id="triggers.name"),
    pytest.param(f.make_channel, "name", id="notification_channels.name"),
]


@pytest.mark.parametrize(("make", "field"), UNIQUE_VALUES)
async def test_a_second_row_with_the_same_unique_value_is_refused(
    session: AsyncSession, make: Make, field: str
) -> None:
    first = await make(session)
    with pytest.raises(IntegrityError):
        async with session.begin_nested():
            await make(session, **{field: getattr(first, field)})


@pytest.mark.parametrize("field", ["key_hash", "prefix"])
async def test_api_key_hashes_and_prefixes_are_unique(session: AsyncSession, field: str) -> None:
    user = await f.make_user(session)
    first = await f.make_api_key(session, user)
    with pytest.raises(IntegrityError):
        async with session.begin_nested():
            await f.make_api_key(session, user, **{field: getattr(first, field)})


async def test_a_live_deployment_name_is_unique_per_user(session: AsyncSession) -> None:
    user = await f.make_user(session)
    first = await f.make_deployment(session, user_id=user.id, name="web")
    with pytest.raises(IntegrityError):
        async with session.begin_nested():
            await f.make_deployment(session, user_id=user.id, name="web")

    other_user = await f.make_user(session)
    await f.make_deployment(session, user_id=other_user.id, name="web")

    await session.execute(
        update(Deployment).where(Deployment.id == first.id).values(deleted_at=datetime.now(UTC))
    )
    second = await f.make_deployment(session, user_id=user.id, name="web")
    await session.execute(
        update(Deployment).where(Deployment.id == second.id).values(deleted_at=datetime.now(UTC))
    )
    await f.make_deployment(session, user_id=user.id, name="web")

    names = select(func.count()).where(Deployment.user_id == user.id, Deployment.name == "web")
    assert await session.scalar(names) == 3


@pytest.mark.parametrize(
    "fields",
    [
        {"cpu_cores": 0.4},
        {"cpu_cores": 32.5},
        {"memory_mb": 511},
        {"memory_mb": 65537},
        {"gpu_units": -1},
        {"gpu_units": 9},
        {"storage_gb": 0},
        {"storage_gb": 1001},
    ],
    ids=lambda fields: next(f"{k}={v}" for k, v in fields.items()),
)
async def test_resources_outside_seed_004_bounds_are_refused_by_the_database(
    session: AsyncSession, fields: dict[str, Any]
) -> None:
    deployment = await f.make_deployment(session)
    with pytest.raises(IntegrityError):
        async with session.begin_nested():
            await f.make_resources(session, deployment, **fields)


@pytest.mark.parametrize(
    "fields",
    [
        {"verbosity": -1},
        {"verbosity": 5},
        {"forks": 0},
        {"forks": 51},
        {"timeout_seconds": 0},
        {"batch_size": 0},
        {"max_fail_percentage": -1},
        {"max_fail_percentage": 101},
    ],
    ids=lambda fields: next(f"{k}={v}" for k, v in fields.items()),
)
async def test_template_options_out_of_range_are_refused_by_the_database(
    session: AsyncSession, fields: dict[str, Any]
) -> None:
    with pytest.raises(IntegrityError):
        async with session.begin_nested():
            await f.make_template(session, **fields)


async def test_resources_at_seed_004_bounds_are_accepted(session: AsyncSession) -> None:
    low = await f.make_resources(
        session,
        await f.make_deployment(session),
        cpu_cores=0.5,
        memory_mb=512,
        gpu_units=0,
        storage_gb=1,
    )
    high = await f.make_resources(
        session,
        await f.make_deployment(session),
        cpu_cores=32,
        memory_mb=65536,
        gpu_units=8,
        storage_gb=1000,
    )
    assert low.id
    assert high.id


async def test_a_deployment_has_one_resources_row(session: AsyncSession) -> None:
    deployment = await f.make_deployment(session)
    await f.make_resources(session, deployment)
    with pytest.raises(IntegrityError):
        async with session.begin_nested():
            await f.make_resources(session, deployment)


async def test_an_unknown_status_is_refused_by_the_database(session: AsyncSession) -> None:
    host = await f.make_host(session)
    with pytest.raises(IntegrityError):
        async with session.begin_nested():
            await session.execute(
                text("UPDATE hosts SET status = 'exploded' WHERE id = :id"), {"id": host.id}
            )
