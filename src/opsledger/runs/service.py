"""Rules for runs: launching one across the hosts a selector matches, in batches; how a
run moves as its batches end (rolling stop at the failure threshold, one ticket when it
fails); cancelling and relaunching it; and reading it with its hosts and tasks."""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.audit import changes
from opsledger.db.base import utcnow
from opsledger.freeze_windows import service as freeze_windows
from opsledger.hosts import service as hosts
from opsledger.hosts.schemas import HostSelector
from opsledger.jobs import lifecycle
from opsledger.jobs import repository as jobs_repository
from opsledger.jobs import service as jobs
from opsledger.jobs.models import Job, JobStatus, JobTask
from opsledger.kit.errors import Conflict, ValidationFailed, found
from opsledger.kit.pagination import Rows
from opsledger.notifications import events, outbox
from opsledger.playbooks import repository as playbooks
from opsledger.runs import repository
from opsledger.runs.models import Run
from opsledger.runs.schemas import RelaunchHosts, RunCreate
from opsledger.security.context import Ctx
from opsledger.templates import service as templates
from opsledger.templates.schemas import TemplateLaunch
from opsledger.tickets import service as tickets

RESOURCE = "run"
FINAL = frozenset({JobStatus.success, JobStatus.failed, JobStatus.cancelled})
RUN_TRANSITIONS: dict[JobStatus, set[JobStatus]] = {
    JobStatus.pending: {JobStatus.running, *FINAL},
    JobStatus.running: set(FINAL),
    JobStatus.success: set(),
    JobStatus.failed: set(),
    JobStatus.cancelled: set(),
}
# The options a run keeps as launched (RunCreate's, less what picks the hosts).
OPTIONS = (
    "check",
    "diff",
    "verbosity",
    "job_tags",
    "skip_tags",
    "forks",
    "timeout_seconds",
    "batch_size",
    "max_fail_percentage",
)


async def get(ctx: Ctx, run_id: int) -> Run:
    return found(await repository.get(ctx.session, run_id), f"run {run_id} does not exist")


async def page(
    ctx: Ctx,
    filters: dict[str, Any],
    limit: int,
    after: int | None,
    *,
    newest_first: bool = False,
) -> Rows[Run]:
    return await repository.page(ctx.session, filters, limit, after, newest_first=newest_first)


async def tallies(ctx: Ctx, runs: list[Run]) -> dict[int, dict[str, Any]]:
    return await repository.tallies(ctx.session, [run.id for run in runs])


async def has_ended(session: AsyncSession, run_id: int) -> bool:
    run = await repository.get(session, run_id)
    return run is None or run.status in FINAL


async def by_reference(ctx: Ctx, reference: str) -> Run:
    """A run by id (the CLI's argument)."""
    if not reference.isdigit():
        raise ValidationFailed(f"no run {reference!r}: runs are named by their id")
    return await get(ctx, int(reference))


async def tally(ctx: Ctx, run: Run) -> dict[str, Any]:
    return (await repository.tallies(ctx.session, [run.id]))[run.id]


async def hosts_page(ctx: Ctx, run_id: int, limit: int, after: int | None) -> Rows[Job]:
    await get(ctx, run_id)
    return await repository.hosts_page(ctx.session, run_id, limit, after)


async def tasks_page(ctx: Ctx, run_id: int, limit: int, after: int | None) -> Rows[JobTask]:
    await get(ctx, run_id)
    return await repository.tasks_page(ctx.session, run_id, limit, after)


async def tasks_of(ctx: Ctx, jobs: list[Job]) -> list[JobTask]:
    """The task results of these jobs of a run (a page of its hosts): its matrix's rows."""
    return await repository.tasks_of(ctx.session, [job.id for job in jobs])


async def create(ctx: Ctx, body: RunCreate) -> Run:
    """An ad hoc run, started by the acting user."""
    options = body.model_dump(include=set(OPTIONS))
    return await launch(
        ctx,
        body.playbook_id,
        body.selector,
        body.extra_vars,
        options,
        override_reason=body.override_reason,
    )


async def launch_template(
    ctx: Ctx,
    template_id: int,
    body: TemplateLaunch,
    *,
    from_text: bool = False,
    started_by: int | None = None,
    override_reason: str | None = None,
    now: datetime | None = None,
) -> Run:
    """A run of a template: its playbook, selector (narrowed by ``limit_host_ids``),
    variables and options, with the launch's variables and prompt values above them
    (one validator for every way of launching) and its check/diff/verbosity if given.
    Secret prompt values are kept encrypted on the run and shown as ********."""
    template = await templates.get(ctx, template_id)
    values = await templates.resolve_prompts(
        ctx.session, templates.prompts_of(template), body.prompts or {}, from_text=from_text
    )
    options = {name: getattr(template, name) for name in OPTIONS}
    options |= body.model_dump(include={"check", "diff", "verbosity"}, exclude_none=True)
    variables = {**(template.extra_vars or {}), **(body.extra_vars or {}), **values.masked()}
    return await launch(
        ctx,
        template.playbook_id,
        templates.selector_of(template),
        variables or None,
        options,
        template_id=template.id,
        secrets=values.secrets(),
        limit=body.limit_host_ids,
        started_by=started_by,
        override_reason=override_reason,
        now=now,
    )


async def launch(
    ctx: Ctx,
    playbook_id: int,
    selector: HostSelector,
    extra_vars: dict[str, Any] | None,
    options: dict[str, Any],
    *,
    relaunch_of: int | None = None,
    template_id: int | None = None,
    secrets: dict[str, str] | None = None,
    limit: list[int] | None = None,
    started_by: int | None = None,
    provisions_host: bool = False,
    override_reason: str | None = None,
    now: datetime | None = None,
) -> Run:
    """A pending run on the hosts ``selector`` matches now (resolved once, here; only
    those in ``limit`` if given), with a pending job per host in batches of
    ``batch_size``; its first batch is handed to the backend once committed, the next
    ones as each batch ends. Every run starts here, so here freeze windows hold it back
    (at ``now``, default the clock's) unless an admin overrides them."""
    await jobs.runnable_playbook(ctx, playbook_id)
    matched = await hosts.resolve_selector(ctx.session, selector)
    if limit is not None:
        outside = sorted(set(limit) - {host.id for host in matched})
        if outside:
            names = ", ".join(map(str, outside[:20]))
            raise ValidationFailed(f"the selector does not match the hosts {names} now")
        matched = [host for host in matched if host.id in set(limit)]
    if not matched:
        raise ValidationFailed("the selector matches no host in service")
    overrides = await freeze_windows.guard(ctx, matched, override_reason, now)
    size = options.get("batch_size") or len(matched)
    user_id = ctx.user_id if started_by is None else started_by
    run = Run(
        template_id=template_id,
        playbook_id=playbook_id,
        user_id=user_id,
        status=JobStatus.pending,
        selector=selector.model_dump(exclude_none=True),
        host_ids=[host.id for host in matched],
        options=options,
        extra_vars=extra_vars,
        secret_vars=json.dumps(secrets) if secrets else None,
        batches=math.ceil(len(matched) / size),
        override_reason=override_reason if overrides else None,
        relaunch_of=relaunch_of,
    )
    await changes.create(ctx, RESOURCE, run)
    for index, host in enumerate(matched):
        await jobs.submit(
            ctx,
            playbook_id,
            host.id,
            user_id,
            extra_vars,
            run_id=run.id,
            batch=index // size,
            dispatch_now=index == 0,
            provisions_host=provisions_host,
        )
    return run


async def started(ctx: Ctx, run_id: int) -> None:
    """A batch of the run started: the run runs (from its first batch on)."""
    run = await get(ctx, run_id)
    if run.status is JobStatus.pending:
        values = {"started_at": utcnow(), "reason": None}
        try:
            await changes.transition(ctx, RESOURCE, run, RUN_TRANSITIONS, JobStatus.running, values)
        except Conflict:
            return  # another batch's worker moved it first, or it was cancelled
        await _notify(ctx, run, "started", await repository.jobs(ctx.session, run_id))


async def progress(ctx: Ctx, run_id: int) -> int | None:
    """Settle the run after jobs of it ended (a batch finished, was reaped or refused), in
    their transaction: stop it before its next batch once more than
    ``max_fail_percentage`` of its hosts failed (their jobs cancelled with the reason),
    or cancel it there when a freeze window that opened since holds one of that batch's
    hosts (unless an admin launched it past the windows, with ``override_reason``); end
    it when no job is left, and open its one ticket when it failed. Returns the job
    that leads its next batch, to hand to the backend, or None."""
    run = await get(ctx, run_id)
    if run.status in FINAL:
        return None
    run_jobs = await repository.jobs(ctx.session, run_id)
    failed = [job for job in run_jobs if job.status is JobStatus.failed]
    waiting = [job for job in run_jobs if job.status is JobStatus.pending]
    if any(job.status is JobStatus.running for job in run_jobs):
        return None  # the batch still runs (or another one of a relaunch's racing)
    limit = int(run.options.get("max_fail_percentage") or 0)
    over = len(failed) * 100 > limit * len(run_jobs)
    status = JobStatus.failed if over else JobStatus.success
    reason = None
    if waiting and not over:
        batch = [job.host for job in waiting if job.batch == waiting[0].batch]
        frozen = await freeze_windows.held_back(ctx, batch, run.override_reason)
        if frozen is None:
            return waiting[0].id
        status, reason = JobStatus.cancelled, f"stopped before batch {waiting[0].batch}: {frozen}"
    elif waiting:
        reason = (
            f"stopped before batch {waiting[0].batch}: {len(failed)} of {len(run_jobs)} "
            f"hosts failed, more than max_fail_percentage {limit}%"
        )
    for job in waiting:
        await lifecycle.end(ctx, job.id, JobStatus.cancelled, reason, "cancel")
    values = {"completed_at": utcnow(), "reason": reason}
    await changes.transition(ctx, RESOURCE, run, RUN_TRANSITIONS, status, values, action="finish")
    if status in events.ENDED:
        timed_out = any(job.timed_out for job in failed)
        failed_before = status is JobStatus.success and await repository.failed_before(
            ctx.session, run
        )
        await _notify(ctx, run, events.ended(status, timed_out, failed_before), run_jobs)
    if status is JobStatus.failed:
        await _open_ticket(ctx, run, failed)
    return None


async def _notify(ctx: Ctx, run: Run, what: str, run_jobs: list[Job]) -> None:
    playbook = await playbooks.get(ctx.session, run.playbook_id)
    name = playbook.name if playbook is not None else f"playbook {run.playbook_id}"
    await outbox.enqueue(ctx, events.run(run, what, name, run_jobs))


async def _open_ticket(ctx: Ctx, run: Run, failed: list[Job]) -> None:
    if not failed:
        return
    playbook = found(await jobs_repository.for_run(ctx.session, failed[0].id), "gone").playbook
    described = [
        (
            job.host.hostname,
            job.host.environment,
            [job.error_message or "", *await jobs_repository.last_lines(ctx.session, job.id, 3)],
        )
        for job in failed
    ]
    await tickets.open_for_failed_run(
        ctx, run.id, failed[0].id, run.user_id, playbook.name, described
    )


async def cancel(ctx: Ctx, run_id: int) -> Run:
    """Cancel a run that has not ended (409 otherwise): its pending jobs never start, and
    the workers of its running ones see their status within a second and stop every
    process of the batch."""
    run = await get(ctx, run_id)
    reason = f"cancelled by {ctx.user.username}"
    values = {"completed_at": utcnow(), "reason": reason}
    await changes.transition(
        ctx, RESOURCE, run, RUN_TRANSITIONS, JobStatus.cancelled, values, action="cancel"
    )
    for job in await repository.jobs(ctx.session, run_id):
        if job.status in (JobStatus.pending, JobStatus.running):
            await jobs.cancel_with(ctx, job, reason)
    return run


async def relaunch(
    ctx: Ctx,
    run_id: int,
    which: RelaunchHosts,
    *,
    started_by: int | None = None,
    override_reason: str | None = None,
) -> Run:
    """A new run with the same playbook, variables and options over the run's failed or
    unreachable hosts (or all of them) that are still in service."""
    run = await get(ctx, run_id)
    if which is RelaunchHosts.all:
        host_ids = list(run.host_ids)
    else:
        failed = await repository.jobs(ctx.session, run_id, JobStatus.failed)
        host_ids = [job.host_id for job in failed]
    if not host_ids:
        raise ValidationFailed(f"run {run_id} has no failed hosts to run again")
    selector = HostSelector(host_ids=host_ids)
    secrets = json.loads(run.secret_vars) if run.secret_vars else None
    return await launch(
        ctx,
        run.playbook_id,
        selector,
        run.extra_vars,
        dict(run.options),
        relaunch_of=run.id,
        template_id=run.template_id,
        secrets=secrets,
        started_by=started_by,
        override_reason=override_reason,
    )
