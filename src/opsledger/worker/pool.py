"""The embedded backend: a pool of asyncio tasks inside the server process that runs
pending jobs, and the reaper that fails jobs whose worker died (with any backend).

Several server processes may each run a pool: claiming a job is a compare-and-set, so
exactly one of them runs it."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.config import JobBackend, Settings
from opsledger.db.engine import reader
from opsledger.db.session import session_factory, unit_of_work
from opsledger.jobs import dispatch, lifecycle
from opsledger.kit.periodic import Periodic
from opsledger.notifications import dispatch as notifications
from opsledger.ops import retention
from opsledger.schedules import firing
from opsledger.security.context import system_context, worker_name
from opsledger.tickets import overdue
from opsledger.worker.execution import run_job, settle_runs
from opsledger.worker.runner import sweep

log = logging.getLogger(__name__)

# What the domains ask to have repeated; a new one is added here.
PERIODIC: tuple[Periodic, ...] = (
    retention.PERIODIC,
    firing.PERIODIC,
    notifications.PERIODIC,
    overdue.PERIODIC,
)
# How long stopping waits for the loop's and the periodic work's current pass.
STOP_GRACE_SECONDS = 10


class JobPool:
    def __init__(self, engine: AsyncEngine, settings: Settings, concurrency: int) -> None:
        self.engine = engine
        self.settings = settings
        self.concurrency = concurrency
        self.name = worker_name("runner")
        self.running: dict[int, asyncio.Task[object]] = {}
        self._writes = session_factory(engine)
        self._reads = session_factory(reader(engine))
        self._loop_task: asyncio.Task[None] | None = None
        self._periodic: dict[str, asyncio.Task[object]] = {}
        self._stopping = asyncio.Event()

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._run_forever(), name="opsledger-job-pool")

    async def stop(self) -> None:
        """Stop taking jobs; jobs still running are ended as failed (interrupted).

        The loop and the periodic work are let finish what they are doing for up to
        ``STOP_GRACE_SECONDS`` before they are cancelled: a pass cancelled inside its
        transaction leaves it to the connection's teardown (on SQLite, a write lock held
        until the connection is collected), and a notification pass cancelled between
        its send and its record sends that delivery again once its claim runs out."""
        self._stopping.set()
        winding_down = [t for t in (self._loop_task, *self._periodic.values()) if t is not None]
        if winding_down:
            await asyncio.wait(winding_down, timeout=STOP_GRACE_SECONDS)
        tasks = [*winding_down, *self.running.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run_forever(self) -> None:
        loop = asyncio.get_running_loop()
        next_reap = loop.time()
        due = {work.name: loop.time() + work.first_delay for work in PERIODIC}
        while not self._stopping.is_set():
            try:
                if loop.time() >= next_reap:
                    next_reap = loop.time() + self.settings.job_reap_seconds / 2
                    await self.reap()
                for work in PERIODIC:
                    every = work.every(self.settings)
                    if not every:
                        continue
                    if loop.time() >= due[work.name]:
                        due[work.name] = loop.time() + every
                        self._start(work)
                    elif work.nudge is not None and work.nudge.is_set():
                        self._start(work)
                await self.take()
            except (SQLAlchemyError, OSError):
                log.warning("the job pool could not reach the database; retrying", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.settings.job_poll_seconds)

    async def take(self) -> list[int]:
        """Start pending jobs while there is room; returns the ids started."""
        free = self.concurrency - len(self.running)
        if free <= 0:
            return []
        async with unit_of_work(self._reads) as session:
            candidates = await lifecycle.pending(session, free)
        started = [job_id for job_id in candidates if job_id not in self.running]
        for job_id in started:
            task = asyncio.create_task(
                run_job(self.engine, self.settings, job_id, self.name), name=f"job-{job_id}"
            )
            self.running[job_id] = task
            task.add_done_callback(functools.partial(self._finished, job_id))
        return started

    def _finished(self, job_id: int, task: asyncio.Task[object]) -> None:
        self.running.pop(job_id, None)
        if not task.cancelled() and (failure := task.exception()) is not None:
            log.error("job %s ended with an error", job_id, exc_info=failure)

    def _start(self, work: Periodic) -> None:
        """Periodic work runs beside the pool (retention can take minutes), one run of
        each at a time."""
        running = self._periodic.get(work.name)
        if (running is None or running.done()) and not self._stopping.is_set():
            if work.nudge is not None:
                work.nudge.clear()  # what is written from now on nudges it again
            self._periodic[work.name] = asyncio.create_task(
                work.guarded(self.engine, self.settings), name=f"opsledger-{work.name}"
            )

    async def reap(self) -> list[int]:
        """Fail jobs whose worker died, remove run directories no running job owns, and
        (Celery) send again the jobs whose task never reached the broker."""
        if self.settings.job_backend is JobBackend.celery:
            resent = await dispatch.redispatch(self.engine, self.settings)
            if resent:
                log.warning("sent jobs %s to Celery again: their first send failed", resent)
        async with unit_of_work(self._writes) as session:
            ctx = system_context(session, self.settings, worker_name("reaper"))
            reaped = await lifecycle.reap(ctx, self.settings.job_reap_seconds)
            following = await settle_runs(ctx, reaped)
            running = set(await lifecycle.running(session)) | set(self.running)
        await dispatch.send_next(self.engine, self.settings, following)
        if reaped:
            log.warning("failed jobs %s: their worker stopped responding", reaped)
        swept = await asyncio.to_thread(sweep, self.settings, running)
        if swept:
            log.warning("removed run directories left by dead workers: %s", swept)
        return reaped
