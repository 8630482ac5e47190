"""The job lifecycle as runners see it: claim a pending batch, keep it alive, record each
job's end (with the ticket and host changes an end brings), and reap jobs whose worker
died. Every move is a compare-and-set along JOB_TRANSITIONS, so racing workers, cancels
and the reaper never both win.

One playbook per host at a time: starting a batch takes the lock of every one of its
hosts in the same transaction, all or none (``host_locks``' primary key decides between
racing workers on every backend), and a job's end gives its lock back. A batch waits
while a host is held, and also while an older pending job wants one of its hosts: first
come, first served, and no deadlock, since nothing holds a host while it waits."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import SecretStr
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.audit import changes
from opsledger.credentials import repository as credentials
from opsledger.credentials.models import Credential, CredentialType
from opsledger.db.base import utcnow
from opsledger.hosts import service as hosts_service
from opsledger.hosts.models import HostStatus
from opsledger.hosts.schemas import HostTransition
from opsledger.jobs import repository
from opsledger.jobs.models import Job, JobStatus
from opsledger.jobs.plans import Options, Outcome, Plan, Target
from opsledger.kit.errors import Conflict, ValidationFailed, found
from opsledger.kit.metrics import JOB_DURATION
from opsledger.kit.schemas import reserved_names
from opsledger.notifications import events, outbox
from opsledger.security.context import Ctx
from opsledger.tickets import service as tickets

RESOURCE = "job"

JOB_TRANSITIONS: dict[JobStatus, set[JobStatus]] = {
    # pending -> failed: a job that cannot even start (see refuse()).
    JobStatus.pending: {JobStatus.running, JobStatus.cancelled, JobStatus.failed},
    JobStatus.running: {JobStatus.success, JobStatus.failed, JobStatus.cancelled},
    JobStatus.success: set(),
    JobStatus.failed: set(),
    JobStatus.cancelled: set(),
}


class HostsTaken(Exception):
    """Another worker took a host of the batch between our look and our lock: the
    claim's transaction must be rolled back, and the batch tried again later."""


@dataclass(frozen=True)
class Claim:
    """A batch taken: the plan of its jobs that start (None when none of them can), and
    the jobs failed instead because their host cannot be planned (no way to log in,
    variables that say how to reach it). Such a job fails alone, with its reason; the
    rest of the batch runs together as it would have."""

    plan: Plan | None
    refused: tuple[int, ...] = ()


async def claim(ctx: Ctx, job_id: int) -> Claim | None:
    """Start the batch job ``job_id`` leads (its run's batch, or itself): move its jobs
    from pending to running for this worker, with the locks of their hosts, and read what
    running them needs. None when it cannot start now: it does not exist (a task sent to
    a broker can outlive its database), does not lead a batch (it runs or ended already,
    or its batch's turn has not come), or its hosts are busy (the jobs then say why in
    ``waiting_reason``). When another worker got there first meanwhile, raises Conflict
    or HostsTaken: roll the transaction back. ValidationFailed when what the whole batch
    shares cannot run (its launch's variables)."""
    job = await repository.get(ctx.session, job_id)
    if job is None or not await repository.is_lead(ctx.session, job_id):
        return None
    batch = await repository.batch_of(ctx.session, job)
    jobs = await repository.batch_for_run(ctx.session, batch)
    busy = await _busy(ctx.session, jobs)
    if busy is not None:
        await repository.set_waiting(ctx.session, batch, busy)
        return None
    keys = await credentials.active_of_type(
        ctx.session, [each.host_id for each in jobs], CredentialType.ssh_key
    )
    targets: list[Target] = []
    refused: dict[int, str] = {}
    for each in jobs:
        try:
            targets.append(_target(each, keys.get(each.host_id)))
        except ValidationFailed as exc:
            refused[each.id] = exc.detail
    plan = _plan(jobs[0], tuple(targets), ctx.settings.job_timeout_seconds) if targets else None
    starting = [each for each in jobs if each.id not in refused]
    if starting:
        try:  # the transaction's first write: nothing to undo when it fails
            await repository.lock_hosts(ctx.session, {each.host_id: each.id for each in starting})
        except IntegrityError:
            raise HostsTaken(f"a host of job {job_id} was taken meanwhile") from None
    now = utcnow()
    values = {"started_at": now, "heartbeat_at": now, "waiting_reason": None}
    for each in starting:
        await changes.transition(
            ctx, RESOURCE, each, JOB_TRANSITIONS, JobStatus.running, values, action="start"
        )
        if each.run_id is None:  # a run's jobs: the run tells (run.started)
            await outbox.enqueue(ctx, events.job(each, "started"))
    for refused_id, reason in refused.items():
        await refuse(ctx, refused_id, reason)
    return Claim(plan, tuple(refused))


async def _busy(session: AsyncSession, jobs: list[Job]) -> str | None:
    """Why the batch cannot take its hosts now, or None."""
    hosts = [job.host_id for job in jobs]
    held = await repository.holder(session, hosts)
    if held is not None and await repository.status(session, held[0]) is JobStatus.running:
        return f"host {held[1]} is busy with job {held[0]}"
    earlier = await repository.queued_before(session, hosts, jobs[0].id)
    if earlier is not None:
        return f"job {earlier[0]}, launched earlier, goes first on host {earlier[1]}"
    return None


def _plan(lead: Job, targets: tuple[Target, ...], default_timeout: int) -> Plan:
    """The batch's plan: what its jobs share comes from its first job (one run, one
    playbook, one launch); the site's time limit where the launch set none."""
    secrets = {} if lead.run is None else json.loads(lead.run.secret_vars or "{}")
    return Plan(
        playbook_path=lead.playbook.file_path,
        playbook_hash=lead.playbook.file_hash,
        targets=targets,
        # A run's secret prompt values (******** in the job's own) only now, in memory.
        extra_vars=_checked({**(lead.extra_vars or {}), **secrets}),
        options=_options(lead.run.options if lead.run else {}, default_timeout),
        run_id=lead.run_id,
        secrets=tuple(value for value in secrets.values() if isinstance(value, str) and value),
    )


def _target(job: Job, credential: Credential | None) -> Target:
    """How to reach the job's host; ValidationFailed when the host cannot be reached
    as recorded (the job cannot start, the batch's others can)."""
    host = job.host
    if credential is None and host.ssh_key_path is None:
        raise ValidationFailed(
            f"host {host.hostname} has no active SSH key credential and no ssh_key_path"
        )
    role = host.role.variables if host.role is not None else None
    return Target(
        job_id=job.id,
        job_created=job.created_at,
        hostname=host.hostname,
        address=host.ip_address,
        port=host.ssh_port,
        user=credential.username if credential is not None else host.ssh_user,
        # The host's own, below the launch's extra vars: the playbook's defaults, then
        # its role's.
        variables=_checked({**(job.playbook.variables or {}), **(role or {})}),
        private_key=SecretStr(credential.value) if credential is not None else None,
        key_path=host.ssh_key_path,
    )


def _checked(variables: dict[str, Any]) -> dict[str, Any]:
    reserved = reserved_names(variables)
    if reserved:
        raise ValidationFailed(
            f"variables may not set {', '.join(reserved)}: how to reach a host is its "
            "record's (address, port, user, credential), not a variable's"
        )
    return variables


def _options(stored: dict[str, Any], default_timeout: int) -> Options:
    """The run's options as launched (validated then); tags as tuples."""
    known = {name: stored[name] for name in Options.__dataclass_fields__ if name in stored}
    known["timeout_seconds"] = known.get("timeout_seconds") or default_timeout or None
    for name in ("job_tags", "skip_tags"):
        known[name] = tuple(known.get(name) or ())
    return Options(**known)


async def refuse(ctx: Ctx, job_id: int, reason: str) -> JobStatus | None:
    """Fail a pending job that cannot start (its plan is invalid), instead of leaving it
    to be claimed again and again; returns its final status."""
    try:
        job = await end(ctx, job_id, JobStatus.failed, f"cannot start: {reason}", "fail")
    except Conflict:
        return await repository.status(ctx.session, job_id)
    return job.status


async def heartbeat(session: AsyncSession, job_ids: list[int]) -> bool:
    """Stamp a running batch's heartbeat; False when a job of it is no longer running
    (cancelled or reaped: the batch stops)."""
    return await repository.beat(session, job_ids, utcnow())


async def finish(ctx: Ctx, job_id: int, outcome: Outcome) -> JobStatus | None:
    """Record how a job's run ended (its recap with it), unless the job already ended
    another way (cancelled or reaped meanwhile): returns its final status."""
    columns: dict[str, object] = dict(outcome.recap or {})
    if outcome.timed_out:
        columns["timed_out"] = True
    try:
        job = await end(ctx, job_id, outcome.status, outcome.error, "finish", columns)
    except Conflict:
        return await repository.status(ctx.session, job_id)
    return job.status


async def reap(ctx: Ctx, silent_for: float, limit: int = 100) -> list[int]:
    """Fail running jobs whose worker stopped writing heartbeats (it died)."""
    since = utcnow() - timedelta(seconds=silent_for)
    error = f"the worker running this job stopped responding (no heartbeat for {silent_for:g}s)"
    reaped = []
    for job_id in await repository.silent(ctx.session, since, limit):
        try:
            await end(ctx, job_id, JobStatus.failed, error, "reap")
        except Conflict:
            continue  # it ended after all
        reaped.append(job_id)
    return reaped


async def end(
    ctx: Ctx,
    job_id: int,
    status: JobStatus,
    error: str | None,
    action: str,
    columns: dict[str, object] | None = None,
) -> Job:
    """Compare-and-set the job to a final ``status`` (Conflict when it cannot move there
    any more), give its host back, then settle it. ``columns``: more to record (its
    recap, that it timed out)."""
    job = await exists(ctx.session, job_id)
    values = {"completed_at": utcnow(), "error_message": error, **(columns or {})}
    await changes.transition(ctx, RESOURCE, job, JOB_TRANSITIONS, status, values, action=action)
    await repository.unlock(ctx.session, job_id)
    await settle(ctx, job)
    if job.started_at is not None and job.completed_at is not None:
        ran = (job.completed_at - job.started_at).total_seconds()
        JOB_DURATION.labels(status.value).observe(ran)
    return job


async def settle(ctx: Ctx, job: Job) -> None:
    """What every end of a job brings besides its audit row, in its transaction: its
    notifications and a ticket when it failed (a job of a run: the run tells, and opens
    one ticket for all its hosts), and the host's status when the job was provisioning it."""
    told = job.status in events.ENDED and job.run_id is None
    ticket = job.status is JobStatus.failed and job.run_id is None
    if not told and not job.provisions_host:
        return
    loaded = found(await repository.for_run(ctx.session, job.id), f"job {job.id} does not exist")
    if told:
        failed_before = job.status is JobStatus.success and await repository.failed_before(
            ctx.session, job
        )
        what = events.ended(job.status, job.timed_out, failed_before)
        await outbox.enqueue(ctx, events.job(loaded, what))
    if ticket:
        await tickets.open_for_failed_job(
            ctx,
            job.id,
            job.user_id,
            loaded.playbook.name,
            loaded.host.hostname,
            loaded.host.environment,
            await repository.last_lines(ctx.session, job.id, 20),
        )
    if job.provisions_host:
        await _update_provisioned_host(ctx, job)


async def _update_provisioned_host(ctx: Ctx, job: Job) -> None:
    ok = job.status is JobStatus.success
    change = HostTransition(
        status=HostStatus.deployed if ok else HostStatus.failed,
        error_message=None if ok else (job.error_message or f"provisioning job {job.status}"),
    )
    try:
        await hosts_service.transition(ctx, job.host_id, change)
    except Conflict:
        return  # the host moved on meanwhile (e.g. decommissioned): leave it


async def status(session: AsyncSession, job_id: int) -> JobStatus | None:
    return await repository.status(session, job_id)


async def is_running(session: AsyncSession, job_ids: list[int]) -> bool:
    """Whether every job of a batch still runs."""
    return await repository.all_running(session, job_ids)


async def lead_of_run(session: AsyncSession, run_id: int) -> int | None:
    return await repository.lead_of_run(session, run_id)


async def runs_of(session: AsyncSession, job_ids: list[int]) -> set[int]:
    """The runs these jobs belong to."""
    return await repository.runs_of(session, job_ids)


async def send_again_later(session: AsyncSession, job_id: int) -> None:
    """Celery: a batch that could not start (its hosts are busy) is sent again by the
    reaper, as if its task had never reached the broker."""
    if await repository.is_lead(session, job_id):
        await repository.mark_dispatched(session, job_id, None)


async def running(session: AsyncSession) -> list[int]:
    return await repository.running_ids(session)


async def pending(session: AsyncSession, limit: int) -> list[int]:
    """The oldest pending jobs, for a pool with room for ``limit`` more."""
    return await repository.pending(session, limit)


async def exists(session: AsyncSession, job_id: int) -> Job:
    return found(await repository.get(session, job_id), f"job {job_id} does not exist")
