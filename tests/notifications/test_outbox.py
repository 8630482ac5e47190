"""The outbox: each event writes exactly the deliveries its rules ask for, in the event's
own transaction, one per channel; a rolled-back change writes (and so sends) nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.alerts import service as alerts
from opsledger.alerts.schemas import AlertCreate
from opsledger.db.session import session_factory, unit_of_work
from opsledger.jobs import lifecycle
from opsledger.jobs.models import JobStatus
from opsledger.models import AuditLog, NotificationDelivery
from opsledger.runs import service as runs
from opsledger.schedules import firing
from opsledger.security.context import Ctx, system_context
from opsledger.tickets import overdue
from opsledger.tickets import service as tickets
from opsledger.tickets.models import TicketPriority
from tests import factories as f
from tests.notifications.conftest import Lab

T = TypeVar("T")


async def in_unit(lab: Lab, work: Callable[[Ctx], Awaitable[T]]) -> T:
    """``work`` in one committed unit of work, as the runner or a request does it."""
    async with unit_of_work(session_factory(lab.engine)) as session:
        return await work(system_context(session, lab.settings, "notify-test"))


async def events_of(lab: Lab, channel: dict[str, Any]) -> list[str]:
    return sorted(each["event"] for each in await lab.deliveries(channel))


async def make_job(lab: Lab, environment: str, **fields: Any) -> int:
    async with unit_of_work(session_factory(lab.engine)) as session:
        host = await f.make_host(session, environment=environment, ssh_key_path="/dev/null")
        job = await f.make_job(session, host_id=host.id, **fields)
        return job.id


async def open_tickets(lab: Lab, opener: Any, job_id: int, *priorities: str) -> list[Any]:
    """Tickets on the job, one per priority, opened through the API: their bodies."""
    opened = []
    for priority in priorities:
        response = await lab.client.post(
            "/tickets",
            json={"job_id": job_id, "title": f"disk {priority}", "priority": priority},
            headers=opener.headers,
        )
        assert response.status_code == 201, response.text
        opened.append(response.json())
    return opened


async def test_each_job_event_reaches_exactly_the_channels_its_rules_name(lab: Lab) -> None:
    production, staging = f.unique("env"), f.unique("env")
    pager, chat, mail = (
        await lab.channel("webhook"),
        await lab.channel("slack"),
        await lab.channel("email"),
    )
    await lab.rule(pager, "job.failed", environment=production)
    await lab.rule(pager, "job.failed", environment=production)  # twice routed: one delivery
    await lab.rule(chat, "job.failed", environment=production)
    await lab.rule(chat, "job.started", environment=production)
    await lab.rule(mail, "job.succeeded", environment=production)
    await lab.rule(mail, "job.failed", environment=staging)

    started = await make_job(lab, production)
    await in_unit(lab, lambda ctx: lifecycle.claim(ctx, started))
    await in_unit(lab, lambda ctx: lifecycle.end(ctx, started, JobStatus.failed, "boom", "finish"))
    succeeded = await make_job(lab, production, status=JobStatus.running)
    await in_unit(lab, lambda ctx: lifecycle.end(ctx, succeeded, JobStatus.success, None, "finish"))

    assert await events_of(lab, pager) == ["job.failed"]
    assert await events_of(lab, chat) == ["job.failed", "job.started"]
    assert await events_of(lab, mail) == ["job.succeeded"]
    [failed] = [d for d in await lab.deliveries(chat) if d["event"] == "job.failed"]
    assert failed["text"].startswith(f"Job {started} failed: ")
    assert failed["text"].endswith("(boom)")
    assert failed["status"] == "pending"


async def test_ticket_priority_routes_a_critical_ticket_to_the_pager_and_every_one_to_mail(
    lab: Lab, operator: Any
) -> None:
    environment = f.unique("env")
    pager, mail = await lab.channel("webhook"), await lab.channel("email")
    await lab.rule(pager, "ticket.opened", min_priority="critical", environment=environment)
    await lab.rule(mail, "ticket.opened", min_priority="low", environment=environment)
    critical, _ = await open_tickets(
        lab, operator, await make_job(lab, environment), "critical", "low"
    )
    assert [d["text"] for d in await lab.deliveries(pager)] == [
        f"Ticket {critical['id']} opened (critical): disk critical"
    ]
    assert sorted(d["text"].split(": ")[1] for d in await lab.deliveries(mail)) == [
        "disk critical",
        "disk low",
    ]


async def test_a_failed_job_opens_a_ticket_whose_priority_is_routed_too(lab: Lab) -> None:
    """A job failing in production opens a high-priority ticket: both events go out, in
    the job's transaction."""
    environment = "production"
    pager = await lab.channel("webhook")
    await lab.rule(pager, "ticket.opened", min_priority="high", environment=environment)
    job_id = await make_job(lab, environment, status=JobStatus.running)
    await in_unit(lab, lambda ctx: lifecycle.end(ctx, job_id, JobStatus.failed, "x", "fail"))
    texts = [d["text"] for d in await lab.deliveries(pager)]
    assert any(text.startswith("Ticket ") and f"Job {job_id} failed" in text for text in texts)


async def test_alerts_are_routed_by_minimum_severity_when_firing_and_resolved(lab: Lab) -> None:
    environment = f.unique("env")
    pager, chat = await lab.channel("webhook"), await lab.channel("slack")
    await lab.rule(pager, "alert.firing", min_severity="critical", environment=environment)
    await lab.rule(chat, "alert.firing", min_severity="warning", environment=environment)
    await lab.rule(chat, "alert.resolved", environment=environment)
    async with unit_of_work(session_factory(lab.engine)) as session:
        host_id = (await f.make_host(session, environment=environment)).id

    async def fire(severity: str) -> int:
        body = AlertCreate(source="test", severity=severity, title=severity, host_id=host_id)
        alert, new = await in_unit(lab, lambda ctx: alerts.raise_alert(ctx, body))
        assert new
        return alert.id

    critical = await fire("critical")
    await fire("warning")
    await fire("info")
    await in_unit(lab, lambda ctx: alerts.resolve(ctx, critical))
    assert await events_of(lab, pager) == ["alert.firing"]
    assert await events_of(lab, chat) == ["alert.firing", "alert.firing", "alert.resolved"]


async def test_run_events_are_filtered_by_template(lab: Lab) -> None:
    environment = f.unique("env")
    chat = await lab.channel("slack")
    async with unit_of_work(session_factory(lab.engine)) as session:
        watched, other = await f.make_template(session), await f.make_template(session)
        made = {}
        for template in (watched, other):
            run = await f.make_run(session, template_id=template.id)
            host = await f.make_host(session, environment=environment)
            await f.make_job(session, run_id=run.id, host_id=host.id, status=JobStatus.failed)
            made[template.id] = run.id
    await lab.rule(chat, "run.started", template_id=watched.id)
    await lab.rule(chat, "run.failed", template_id=watched.id)
    for run_id in made.values():
        await in_unit(lab, lambda ctx, run_id=run_id: runs.started(ctx, run_id))
        await in_unit(lab, lambda ctx, run_id=run_id: runs.progress(ctx, run_id))
    delivered = await lab.deliveries(chat)
    assert sorted(d["event"] for d in delivered) == ["run.failed", "run.started"]
    assert all(d["text"].startswith(f"Run {made[watched.id]} ") for d in delivered)


async def test_a_rolled_back_change_writes_no_delivery_and_sends_nothing(
    lab: Lab, engine: AsyncEngine
) -> None:
    environment = f.unique("env")
    pager = await lab.channel("webhook")
    await lab.rule(pager, "alert.firing", environment=environment)
    async with unit_of_work(session_factory(lab.engine)) as session:
        host_id = (await f.make_host(session, environment=environment)).id
    body = AlertCreate(source="test", severity="critical", title="rolled back", host_id=host_id)

    async def fail_after_the_event() -> None:
        async with unit_of_work(session_factory(lab.engine)) as session:
            await alerts.raise_alert(system_context(session, lab.settings, "notify-test"), body)
            written = await session.scalar(
                select(func.count())
                .select_from(NotificationDelivery)
                .where(NotificationDelivery.channel_id == pager["id"])
            )
            assert written == 1  # in the change's own transaction
            raise RuntimeError("the change fails after the event")

    with pytest.raises(RuntimeError):
        await fail_after_the_event()
    await lab.deliver()
    assert await lab.deliveries(pager) == []
    assert lab.receiver.at(pager["path"]) == []


async def test_a_disabled_rule_or_channel_routes_nothing(lab: Lab) -> None:
    environment = f.unique("env")
    off, quiet = await lab.channel("slack"), await lab.channel("slack", enabled=False)
    rule = await lab.rule(off, "ticket.opened", environment=environment)
    await lab.rule(quiet, "ticket.opened", environment=environment)
    response = await lab.client.patch(
        f"/notification-rules/{rule['id']}", json={"enabled": False}, headers=lab.admin.headers
    )
    assert response.status_code == 200
    job_id = await make_job(lab, environment)
    await in_unit(
        lab,
        lambda ctx: tickets.open_ticket(ctx, job_id, "t", None, TicketPriority.critical, 1),
    )
    assert await lab.deliveries(off) == []
    assert await lab.deliveries(quiet) == []


async def test_a_schedule_that_skips_or_fails_a_due_time_says_so(lab: Lab) -> None:
    """A schedule that silently does nothing is what its users fear most."""
    chat = await lab.channel("slack")
    environment = f.unique("env")
    now = datetime.now(UTC)
    async with unit_of_work(session_factory(lab.engine)) as session:
        owner = await f.make_user(session, role="operator")
        await f.make_host(session, environment=environment)
        frozen = await f.make_template(session, selector={"environment": environment})
        empty = await f.make_template(session, selector={"environment": f.unique("none")})
        made = [
            await f.make_schedule(
                session, template_id=template.id, user_id=owner.id, next_run_at=now
            )
            for template in (frozen, empty)
        ]
        await f.make_window(
            session, environments=[environment],
            starts_at=now - timedelta(minutes=1), ends_at=now + timedelta(hours=1),
        )  # fmt: skip
    watched = {frozen.id, empty.id}
    for template_id in watched:
        await lab.rule(chat, "schedule.skipped", template_id=template_id)
        await lab.rule(chat, "schedule.failed", template_id=template_id)

    for schedule in made:
        await in_unit(lab, lambda ctx, s=schedule: firing.fire(ctx, s.id, now))

    delivered = {d["event"]: d["text"] for d in await lab.deliveries(chat)}
    assert set(delivered) == {"schedule.skipped", "schedule.failed"}
    assert made[0].name in delivered["schedule.skipped"]
    assert "freeze window" in delivered["schedule.skipped"]
    assert "matches no host" in delivered["schedule.failed"]


async def test_a_recovery_and_a_timeout_are_told_and_reach_the_broader_events_rules(
    lab: Lab,
) -> None:
    """job.recovered is a success after a failure of the same playbook on the same host,
    job.timed_out a failure by the time limit: rules on job.succeeded and job.failed get
    them too, a channel both route them to once."""
    environment = f.unique("env")
    chat, pager = await lab.channel("slack"), await lab.channel("webhook")
    await lab.rule(chat, "job.succeeded", environment=environment)
    await lab.rule(chat, "job.failed", environment=environment)
    await lab.rule(chat, "job.timed_out", environment=environment)  # routed twice: once
    await lab.rule(pager, "job.recovered", environment=environment)
    await lab.rule(pager, "job.timed_out", environment=environment)
    async with unit_of_work(session_factory(lab.engine)) as session:
        host = await f.make_host(session, environment=environment, ssh_key_path="/dev/null")
        playbook_id = (await f.make_playbook(session)).id
        other_playbook = (await f.make_playbook(session)).id

    async def ended(status: JobStatus, playbook: int = playbook_id, **columns: Any) -> None:
        async with unit_of_work(session_factory(lab.engine)) as session:
            job = await f.make_job(
                session, host_id=host.id, playbook_id=playbook, status=JobStatus.running
            )
        await in_unit(lab, lambda ctx: lifecycle.end(ctx, job.id, status, "x", "finish", columns))

    await ended(JobStatus.failed)
    await ended(JobStatus.success, other_playbook)  # another playbook: not a recovery
    await ended(JobStatus.cancelled)  # neither: passed over
    await ended(JobStatus.success)  # recovered
    await ended(JobStatus.success)  # succeeded again: a plain success
    await ended(JobStatus.failed, timed_out=True)

    assert [d["event"] for d in reversed(await lab.deliveries(chat))] == [
        "job.failed", "job.succeeded", "job.recovered", "job.succeeded", "job.timed_out",
    ]  # fmt: skip
    told = [d["text"] for d in reversed(await lab.deliveries(pager))]
    assert [text.split(":")[0].split(" ", 2)[2] for text in told] == ["recovered", "timed out"]


async def test_a_run_of_a_template_that_recovers_or_times_out_says_so(lab: Lab) -> None:
    chat = await lab.channel("slack")
    async with unit_of_work(session_factory(lab.engine)) as session:
        template = await f.make_template(session)
        host_id = (await f.make_host(session)).id
    await lab.rule(chat, "run.failed", template_id=template.id)
    await lab.rule(chat, "run.succeeded", template_id=template.id)

    async def ended(status: JobStatus, **job: Any) -> None:
        async with unit_of_work(session_factory(lab.engine)) as session:
            run = await f.make_run(session, template_id=template.id, status=JobStatus.running)
            await f.make_job(session, run_id=run.id, host_id=host_id, status=status, **job)
        await in_unit(lab, lambda ctx: runs.progress(ctx, run.id))

    await ended(JobStatus.failed)
    await ended(JobStatus.success)
    await ended(JobStatus.success)
    await ended(JobStatus.failed, timed_out=True)

    assert [d["event"] for d in reversed(await lab.deliveries(chat))] == [
        "run.failed", "run.recovered", "run.succeeded", "run.timed_out",
    ]  # fmt: skip


async def test_a_ticket_past_its_due_date_is_told_overdue_once(lab: Lab, operator: Any) -> None:
    environment = f.unique("env")
    pager, mail = await lab.channel("webhook"), await lab.channel("email")
    await lab.rule(pager, "ticket.overdue", min_priority="critical", environment=environment)
    await lab.rule(mail, "ticket.overdue", environment=environment)
    critical, low = await open_tickets(
        lab, operator, await make_job(lab, environment), "critical", "low"
    )
    opened = {"critical": critical, "low": low}
    critical_due = datetime.fromisoformat(opened["critical"]["due_at"])

    before = await overdue.tell_due(lab.engine, lab.settings, critical_due - timedelta(minutes=1))
    told = await overdue.tell_due(lab.engine, lab.settings, critical_due + timedelta(minutes=1))
    again = await overdue.tell_due(lab.engine, lab.settings, critical_due + timedelta(hours=1))

    assert opened["critical"]["id"] not in before
    assert opened["critical"]["id"] in told
    assert opened["low"]["id"] not in told + again  # due in a week
    assert opened["critical"]["id"] not in again
    [paged] = await lab.deliveries(pager)
    assert paged["event"] == "ticket.overdue"
    assert paged["text"].startswith(f"Ticket {opened['critical']['id']} overdue (critical, due ")
    assert [d["event"] for d in await lab.deliveries(mail)] == ["ticket.overdue"]
    async with unit_of_work(session_factory(lab.engine)) as session:
        actions = await session.scalars(
            select(AuditLog.action)
            .where(
                AuditLog.resource_type == "ticket",
                AuditLog.resource_id == opened["critical"]["id"],
            )
            .order_by(AuditLog.id)
        )
        assert list(actions) == ["create", "overdue"]
