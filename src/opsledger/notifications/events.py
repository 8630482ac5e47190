"""What each event says: its name, a one-line text, the row it is about, the console page
that shows it, and the facts rules filter on (environments, template, priority,
severity). Built by the domain where the event happens, from rows it already holds."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from opsledger.alerts.models import AlertSeverity, MonitoringAlert
from opsledger.jobs.models import Job, JobStatus
from opsledger.notifications.models import EventName
from opsledger.runs.models import Run
from opsledger.schedules.models import Schedule
from opsledger.tickets.models import Ticket, TicketPriority

ENDED = {JobStatus.success: "succeeded", JobStatus.failed: "failed"}
FAILED = ("failed", "timed_out")


def ended(status: JobStatus, timed_out: bool, failed_before: bool) -> str:
    """How a job or run that ended with ``status`` (one of ENDED) is told: ``timed_out``
    when its time limit stopped it, ``recovered`` when it succeeded where the one before
    it (of its host and playbook, or of its template) had failed."""
    what = ENDED[status]
    if what == "failed" and timed_out:
        return "timed_out"
    if what == "succeeded" and failed_before:
        return "recovered"
    return what


@dataclass(frozen=True)
class Event:
    name: EventName
    text: str
    subject: str  # "job", "run", "ticket", "alert"
    subject_id: int
    path: str  # its console page
    environments: frozenset[str] = frozenset()
    template_id: int | None = None
    priority: TicketPriority | None = None
    severity: AlertSeverity | None = None
    facts: dict[str, Any] = field(default_factory=dict)


def _said(what: str) -> str:
    return what.replace("_", " ")


def job(loaded: Job, what: str) -> Event:
    """A job of its own (not of a run) ``started`` or ended (see ``ended``); the job with
    its playbook and host loaded."""
    host = loaded.host
    text = f"Job {loaded.id} {_said(what)}: {loaded.playbook.name} on {host.hostname}"
    if loaded.error_message and what in FAILED:
        text += f" ({loaded.error_message[:200]})"
    return Event(
        EventName(f"job.{what}"),
        text,
        "job",
        loaded.id,
        f"/jobs/{loaded.id}",
        frozenset({host.environment} if host.environment else ()),
        facts={"host": host.hostname, "playbook": loaded.playbook.name, "status": loaded.status},
    )


def run(row: Run, what: str, playbook: str, jobs: list[Job]) -> Event:
    """A run ``started`` or ended (see ``ended``); its jobs with their hosts loaded."""
    failed = [each.host.hostname for each in jobs if each.status is JobStatus.failed]
    text = f"Run {row.id} {_said(what)}: {playbook} on {len(jobs)} host(s)"
    if failed:
        text += f", failed on {', '.join(failed[:10])}" + (" …" if len(failed) > 10 else "")
    return Event(
        EventName(f"run.{what}"),
        text,
        "run",
        row.id,
        f"/runs/{row.id}",
        frozenset(each.host.environment for each in jobs if each.host.environment),
        row.template_id,
        facts={"playbook": playbook, "hosts": len(jobs), "failed_hosts": failed[:100]},
    )


def ticket(row: Ticket, what: str, environment: str | None, template_id: int | None) -> Event:
    """A ticket ``opened``, or ``overdue``: still open past its due date."""
    facts = str(row.priority)
    if what == "overdue" and row.due_at is not None:
        facts += f", due {row.due_at.isoformat(timespec='minutes')}"
    return Event(
        EventName(f"ticket.{what}"),
        f"Ticket {row.id} {what} ({facts}): {row.title}",
        "ticket",
        row.id,
        f"/tickets/{row.id}",
        frozenset({environment} if environment else ()),
        template_id,
        priority=row.priority,
        facts={"priority": row.priority, "job_id": row.job_id, "due_at": row.due_at},
    )


def alert(row: MonitoringAlert, environment: str | None) -> Event:
    what = "resolved" if row.resolved_at is not None else "firing"
    return Event(
        EventName(f"alert.{what}"),
        f"Alert {what} ({row.severity}): {row.title}",
        "alert",
        row.id,
        f"/alerts/{row.id}",
        frozenset({environment} if environment else ()),
        severity=row.severity,
        facts={"severity": row.severity, "source": row.source, "host_id": row.host_id},
    )


def schedule(row: Schedule, due_at: datetime, what: str, reason: str | None) -> Event:
    """A schedule's due time ``skipped`` (missed, overlapping, frozen) or ``failed`` (its
    launch refused): a schedule that silently does nothing is what this event is for."""
    due = due_at.isoformat(timespec="minutes")
    return Event(
        EventName(f"schedule.{what}"),
        f"Schedule {row.name} {what} its run due {due}" + (f": {reason[:300]}" if reason else ""),
        "schedule",
        row.id,
        f"/schedules/{row.id}",
        template_id=row.template_id,
        facts={"due_at": due, "reason": reason},
    )
