"""The job lifecycle as runners see it: claim a pending job, keep it alive, record its
end (with the ticket and host changes an end brings), and reap jobs whose worker died.
Every move is a compare-and-set along JOB_TRANSITIONS, so racing workers, cancels and
the reaper never both win."""

from __future__ import annotations

from datetime import timedelta

from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.audit import changes
from opsledger.credentials import repository as credentials
from opsledger.credentials.models import CredentialType
from opsledger.db.base import utcnow
from opsledger.hosts import service as hosts_service
from opsledger.hosts.models import HostStatus
from opsledger.hosts.schemas import HostTransition
from opsledger.jobs import repository
from opsledger.jobs.models import Job, JobStatus
from opsledger.jobs.plans import Outcome, Plan
from opsledger.kit.errors import Conflict, ValidationFailed, found
from opsledger.kit.metrics import JOB_DURATION
from opsledger.kit.schemas import reserved_names
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


async def claim(ctx: Ctx, job_id: int) -> Plan | None:
    """Move a pending job to running for this worker and read what running it needs;
    None when it is not pending any more (another worker has it, or it was cancelled) or
    does not exist (a task sent to a broker can outlive its database)."""
    now = utcnow()
    job = await repository.get(ctx.session, job_id)
    if job is None:
        return None
    values = {"started_at": now, "heartbeat_at": now}
    try:
        await changes.transition(
            ctx, RESOURCE, job, JOB_TRANSITIONS, JobStatus.running, values, action="start"
        )
    except Conflict:
        return None
    return await _plan(ctx, job_id)


async def _plan(ctx: Ctx, job_id: int) -> Plan:
    job = found(await repository.for_run(ctx.session, job_id), f"job {job_id} does not exist")
    host, playbook = job.host, job.playbook
    credential = await credentials.active_of_type(ctx.session, host.id, CredentialType.ssh_key)
    if credential is None and host.ssh_key_path is None:
        raise ValidationFailed(
            f"host {host.hostname} has no active SSH key credential and no ssh_key_path"
        )
    role = host.role.variables if host.role is not None else None
    variables = {**(playbook.variables or {}), **(role or {}), **(job.extra_vars or {})}
    reserved = reserved_names(variables)
    if reserved:
        raise ValidationFailed(
            f"variables may not set {', '.join(reserved)}: how to reach a host is its "
            "record's (address, port, user, credential), not a variable's"
        )
    return Plan(
        job_id=job.id,
        job_created=job.created_at,
        hostname=host.hostname,
        address=host.ip_address,
        port=host.ssh_port,
        user=credential.username if credential is not None else host.ssh_user,
        playbook_path=playbook.file_path,
        playbook_hash=playbook.file_hash,
        # Most specific last: the playbook's defaults, the host role's, the job's own.
        variables=variables,
        private_key=SecretStr(credential.value) if credential is not None else None,
        key_path=host.ssh_key_path,
    )


async def refuse(ctx: Ctx, job_id: int, reason: str) -> JobStatus | None:
    """Fail a pending job that cannot start (its plan is invalid), instead of leaving it
    to be claimed again and again; returns its final status."""
    try:
        job = await end(ctx, job_id, JobStatus.failed, reason, "fail")
    except Conflict:
        return await repository.status(ctx.session, job_id)
    return job.status


async def heartbeat(session: AsyncSession, job_id: int) -> bool:
    """Stamp a running job's heartbeat; False when it is no longer running (cancelled)."""
    return await repository.beat(session, job_id, utcnow())


async def finish(ctx: Ctx, job_id: int, outcome: Outcome) -> JobStatus | None:
    """Record how a run ended, unless the job already ended another way (cancelled or
    reaped meanwhile): returns the job's final status."""
    try:
        job = await end(ctx, job_id, outcome.status, outcome.error, "finish")
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


async def end(ctx: Ctx, job_id: int, status: JobStatus, error: str | None, action: str) -> Job:
    """Compare-and-set the job to a final ``status`` (Conflict when it cannot move there
    any more), then settle it."""
    job = await exists(ctx.session, job_id)
    values = {"completed_at": utcnow(), "error_message": error}
    await changes.transition(ctx, RESOURCE, job, JOB_TRANSITIONS, status, values, action=action)
    await settle(ctx, job)
    if job.started_at is not None and job.completed_at is not None:
        ran = (job.completed_at - job.started_at).total_seconds()
        JOB_DURATION.labels(status.value).observe(ran)
    return job


async def settle(ctx: Ctx, job: Job) -> None:
    """What every end of a job brings besides its audit row, in its transaction: a ticket
    when it failed, and the host's status when the job was provisioning it."""
    if job.status is not JobStatus.failed and not job.provisions_host:
        return
    loaded = found(await repository.for_run(ctx.session, job.id), f"job {job.id} does not exist")
    if job.status is JobStatus.failed:
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


async def is_running(session: AsyncSession, job_id: int) -> bool:
    return await repository.status(session, job_id) is JobStatus.running


async def running(session: AsyncSession) -> list[int]:
    return await repository.running_ids(session)


async def pending(session: AsyncSession, limit: int) -> list[int]:
    """The oldest pending jobs, for a pool with room for ``limit`` more."""
    return await repository.pending(session, limit)


async def exists(session: AsyncSession, job_id: int) -> Job:
    return found(await repository.get(session, job_id), f"job {job_id} does not exist")
