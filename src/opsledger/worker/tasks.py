"""The Celery backend's worker side: ``opsledger worker`` runs this task, which is the
same job function the embedded pool runs."""

from __future__ import annotations

import asyncio

from celery import Celery, Task

from opsledger.config import Settings
from opsledger.jobs.broker import RUN_JOB, celery_app
from opsledger.worker.execution import run_alone


def worker_app(settings: Settings) -> Celery:
    app = celery_app(settings)

    @app.task(name=RUN_JOB, bind=True)
    def run_job_task(task: Task, job_id: int) -> str | None:  # type: ignore[type-arg]
        worker = f"celery@{task.request.hostname}"
        status = asyncio.run(run_alone(settings, job_id, worker))
        return None if status is None else str(status)

    return app
