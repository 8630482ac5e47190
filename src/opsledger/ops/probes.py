"""Operations over HTTP: liveness, readiness and Prometheus metrics (outside /api/v1:
probes and scrapers call them without credentials; keep them on an internal network)."""

from __future__ import annotations

import asyncio
import shutil

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from opsledger import migrations
from opsledger.config import JobBackend, Settings
from opsledger.db.base import utcnow
from opsledger.db.dependencies import PrimaryReadSession, ReadSession, database_of
from opsledger.db.engine import sqlite_file
from opsledger.db.session import unit_of_work
from opsledger.jobs import broker
from opsledger.jobs.models import JobStatus
from opsledger.kit.errors import ServiceUnavailable, problem_responses
from opsledger.kit.metrics import JOBS, NOTIFICATION_OLDEST, NOTIFICATION_OUTBOX
from opsledger.kit.routers import EVERY_ROUTE, Route
from opsledger.notifications import service as notifications
from opsledger.notifications.models import DeliveryStatus
from opsledger.stats import service as stats

router = APIRouter(tags=["operations"], dependencies=EVERY_ROUTE, route_class=Route)
BROKER_TIMEOUT = 3.0
MIN_FREE_BYTES = 64 * 2**20  # below it a SQLite database is one big write from full


class Health(BaseModel):
    status: str
    database: str


class Readiness(BaseModel):
    status: str
    database: str
    migrations: str
    jobs: str


@router.get("/healthz", responses=problem_responses(ServiceUnavailable))
async def healthz(session: ReadSession) -> Health:
    """Liveness: the process answers and its database accepts a query."""
    try:
        await session.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError) as exc:
        raise ServiceUnavailable(f"database unreachable: {type(exc).__name__}") from None
    return Health(status="ok", database="ok")


@router.get("/readyz", responses=problem_responses(ServiceUnavailable))
async def readyz(request: Request, session: PrimaryReadSession) -> Readiness:
    """Readiness: the database answers, its schema is at this release's head, and the
    job backend is reachable (Celery: the broker accepts a connection)."""
    settings: Settings = request.app.state.settings
    problems = []
    try:
        await session.execute(text("SELECT 1"))
        current = await session.scalar(text("SELECT version_num FROM alembic_version"))
    except (SQLAlchemyError, OSError) as exc:
        raise ServiceUnavailable(f"database unreachable: {type(exc).__name__}") from None
    head = migrations.head_revision()
    if current != head:
        problems.append(f"schema at {current or 'nothing'}, this release needs {head}")
    problems += await _write_problems(request)
    jobs = "embedded"
    if settings.job_backend is JobBackend.celery:
        jobs = "celery"
        try:
            await asyncio.wait_for(asyncio.to_thread(broker.ping, settings), BROKER_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            problems.append(f"job broker unreachable: {type(exc).__name__}")
    if problems:
        raise ServiceUnavailable("not ready: " + "; ".join(problems))
    return Readiness(status="ready", database="ok", migrations=head or "none", jobs=jobs)


async def _write_problems(request: Request) -> list[str]:
    """Whether the database takes a committed write (a read-only file or server, a full
    disk, a SQLite file deleted under the server all refuse one), and for SQLite whether
    its disk has room left."""
    problems = []
    db = database_of(request)
    try:
        async with unit_of_work(db.writes) as probe:
            await probe.execute(text("UPDATE alembic_version SET version_num = version_num"))
    except (SQLAlchemyError, OSError, ServiceUnavailable) as exc:
        reason = exc.detail if isinstance(exc, ServiceUnavailable) else type(exc).__name__
        problems.append(f"the database refuses writes: {reason}")
    database = sqlite_file(db.engine.url)
    if database is not None:
        space = await asyncio.to_thread(shutil.disk_usage, database.resolve().parent)
        if space.free < MIN_FREE_BYTES:
            problems.append(f"{space.free // 2**20} MiB left on the database's disk")
    return problems


@router.get(
    "/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}}
)
async def metrics(session: ReadSession) -> Response:
    """Prometheus text format. Jobs by status and the notification outbox are counted at
    scrape time."""
    counts = await stats.jobs_by_status(session)
    for status in JobStatus:
        JOBS.labels(status.value).set(counts.get(status.value, 0))
    waiting, oldest = await notifications.outbox(session)
    for state in (DeliveryStatus.pending, DeliveryStatus.sending):
        NOTIFICATION_OUTBOX.labels(state.value).set(waiting.get(state.value, 0))
    NOTIFICATION_OLDEST.set((utcnow() - oldest).total_seconds() if oldest else 0)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
