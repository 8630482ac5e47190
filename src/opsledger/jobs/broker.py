"""The Celery side that the API and CLI need: the app for a broker and queue, sending a
job's task and revoking it. Tasks are sent by name; only workers import the task
itself (``jobs/tasks.py``)."""

from __future__ import annotations

from celery import Celery
from kombu.exceptions import KombuError

from opsledger.config import Settings

RUN_JOB = "opsledger.run_job"

_apps: dict[tuple[str, str], Celery] = {}


def celery_app(settings: Settings) -> Celery:
    """One Celery app per broker and queue."""
    key = (settings.redis_url, settings.celery_queue)
    if key not in _apps:
        app = Celery("opsledger", broker=settings.redis_url, set_as_current=False)
        app.conf.update(
            task_default_queue=settings.celery_queue,
            task_ignore_result=True,
            # A job takes seconds to hours: each worker process takes one at a time.
            worker_prefetch_multiplier=1,
            broker_connection_retry_on_startup=True,
            broker_connection_timeout=5,
            worker_hijack_root_logger=False,
        )
        _apps[key] = app
    return _apps[key]


def send(settings: Settings, job_id: int, task_id: str) -> None:
    celery_app(settings).send_task(
        RUN_JOB, args=[job_id], task_id=task_id, queue=settings.celery_queue
    )


def revoke(settings: Settings, task_id: str) -> None:
    """Drop the task if it is still queued; a running one stops by itself when its
    watcher sees the job cancelled (which also stops the playbook's processes)."""
    celery_app(settings).control.revoke(task_id)


def ping(settings: Settings) -> None:
    """Connect to the broker once; OSError when it cannot be reached."""
    try:
        with celery_app(settings).connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
    except KombuError as exc:
        raise OSError(f"broker unreachable: {type(exc).__name__}") from exc
