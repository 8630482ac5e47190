"""Readiness says why it is not ready; /metrics exposes every metric the operations
issue names, under Prometheus naming conventions, after some real traffic."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from opsledger import migrations
from opsledger.config import normalize_database_url
from opsledger.db.base import utcnow
from opsledger.db.engine import sqlite_file
from opsledger.db.session import session_factory, unit_of_work
from opsledger.ops import probes
from opsledger.users.models import UserRole
from opsledger.worker.ingest import LogWriter
from tests import factories as f
from tests.api import Person, build_app, client_for, make_person
from tests.databases import SERVER_URLS

ROOT = "http://opsledger.test"


async def readiness(engine: AsyncEngine, **settings: object) -> httpx.Response:
    async for client in client_for(build_app(engine, **settings)):
        return await client.get(f"{ROOT}/readyz")
    raise AssertionError("no client")


async def test_ready_when_the_schema_is_at_head_and_the_broker_answers(
    engine: AsyncEngine,
) -> None:
    embedded = await readiness(engine)
    celery = await readiness(engine, job_backend="celery")

    assert embedded.status_code == 200
    assert embedded.json() == {
        "status": "ready",
        "database": "ok",
        "migrations": migrations.head_revision(),
        "jobs": "embedded",
    }
    assert celery.status_code == 200
    assert celery.json()["jobs"] == "celery"


async def test_not_ready_names_the_unreachable_broker(engine: AsyncEngine) -> None:
    response = await readiness(engine, job_backend="celery", redis_url="redis://127.0.0.1:9/0")

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert "job broker unreachable" in response.json()["detail"]


async def test_not_ready_while_the_schema_is_behind(scratch_engine: AsyncEngine) -> None:
    await migrations.downgrade(scratch_engine, "0002")

    response = await readiness(scratch_engine)

    assert response.status_code == 503
    assert "schema at 0002" in response.json()["detail"]


METRICS = {
    "opsledger_http_requests": "counter",
    "opsledger_http_request_duration_seconds": "histogram",
    "opsledger_db_pool_connections": "gauge",
    "opsledger_failed_logins": "counter",
    "opsledger_jobs": "gauge",
    "opsledger_job_duration_seconds": "histogram",
    "opsledger_log_lines_ingested": "counter",
    "opsledger_ingest_flush_duration_seconds": "histogram",
    "opsledger_audit_rows_written": "counter",
}


async def test_metrics_expose_requests_pools_logins_jobs_ingest_and_audit(
    client: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    async with unit_of_work(session_factory(engine)) as session:
        job = await f.make_job(session, status="running", started_at=utcnow() - timedelta(1))
    writer = LogWriter(engine, job.id, job.created_at)
    await writer.write_many(f"line {n}" for n in range(10))
    await writer.close()
    await client.get("/hosts", headers=operator.headers)
    for n in range(3):  # any path under a mount is one label, not one series per path
        await client.get(f"{ROOT}/static/probe-{n}/x.css")
    await client.get("/hosts/12345", headers=operator.headers)
    await client.post("/auth/login", json={"username": "nobody", "password": "x" * 12})
    cancelled = await client.post(f"/jobs/{job.id}/cancel", headers=operator.headers)
    assert cancelled.status_code == 200

    response = await client.get(f"{ROOT}/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = {family.name: family for family in text_string_to_metric_families(response.text)}
    for name, kind in METRICS.items():
        assert families[name].type == kind, name
    ours = [name for name in families if name.startswith("opsledger_")]
    assert all(re.fullmatch(r"opsledger_[a-z_]+", name) for name in ours)

    def value(name: str, sample: str, **labels: str) -> float:
        found = [
            s.value
            for s in families[name].samples
            if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items())
        ]
        assert found, (sample, labels, families[name].samples[:5])
        return found[0]

    requests = "opsledger_http_requests_total"
    hosts = {"method": "GET", "route": "/api/v1/hosts", "status": "200"}
    assert value("opsledger_http_requests", requests, **hosts) >= 1
    missing = {"method": "GET", "route": "/api/v1/hosts/{host_id}", "status": "404"}
    assert value("opsledger_http_requests", requests, **missing) >= 1
    assert value("opsledger_failed_logins", "opsledger_failed_logins_total") >= 1
    assert value("opsledger_jobs", "opsledger_jobs", status="cancelled") >= 1
    duration = "opsledger_job_duration_seconds_count"
    assert value("opsledger_job_duration_seconds", duration, status="cancelled") >= 1
    lines = "opsledger_log_lines_ingested_total"
    assert value("opsledger_log_lines_ingested", lines) >= 10
    assert value("opsledger_audit_rows_written", "opsledger_audit_rows_written_total") >= 1
    assert "probe-1" not in response.text  # a client's paths never become labels
    pool = "opsledger_db_pool_connections"
    assert value(pool, pool, pool="primary", state="checked_out") >= 0


async def writable_again(name: str) -> None:
    admin = create_async_engine(
        normalize_database_url(SERVER_URLS["postgresql"]), isolation_level="AUTOCOMMIT"
    )
    try:
        async with admin.connect() as connection:
            reset = f'ALTER DATABASE "{name}" RESET default_transaction_read_only'
            await connection.execute(text(reset))
    finally:
        await admin.dispose()


@pytest.mark.backends("postgresql")
async def test_not_ready_when_the_database_refuses_writes(scratch_engine: AsyncEngine) -> None:
    operator = await make_person(scratch_engine, UserRole.operator)
    async with scratch_engine.connect() as connection:
        name = await connection.scalar(text("SELECT current_database()"))
        await connection.execute(
            text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
        )
        await connection.commit()
    await scratch_engine.dispose()  # new connections are read-only
    host = {"hostname": "readonly.test", "ip_address": "192.0.2.1", "os_type": "debian"}
    try:
        async for client in client_for(build_app(scratch_engine)):
            response = await client.get(f"{ROOT}/readyz")
            written = await client.post("/hosts", json=host, headers=operator.headers)
    finally:
        await writable_again(name)

    assert response.status_code == 503
    assert "the database refuses writes" in response.json()["detail"]
    assert written.status_code == 503  # the database's state, not a bug: not 500
    assert written.headers["content-type"] == "application/problem+json"


@pytest.mark.backends("sqlite")
async def test_a_sqlite_file_deleted_under_the_server_is_never_written_to(
    scratch_engine: AsyncEngine,
) -> None:
    database = sqlite_file(scratch_engine.url)
    assert database is not None
    operator = await make_person(scratch_engine, UserRole.operator)
    async for client in client_for(build_app(scratch_engine)):
        assert (await client.get(f"{ROOT}/readyz")).status_code == 200
        for suffix in ("", "-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
        ready = await client.get(f"{ROOT}/readyz")
        host = {"hostname": "ghost.test", "ip_address": "192.0.2.1", "os_type": "debian"}
        written = await client.post("/hosts", json=host, headers=operator.headers)

    assert ready.status_code == 503
    assert "deleted or replaced" in ready.json()["detail"]
    assert written.status_code == 503
    assert written.headers["content-type"] == "application/problem+json"


async def test_not_ready_when_the_sqlite_disk_is_nearly_full(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(probes, "MIN_FREE_BYTES", 2**62)
    response = await readiness(engine)
    if sqlite_file(engine.url) is None:
        assert response.status_code == 200, response.text  # a server watches its own disk
    else:
        assert response.status_code == 503
        assert "MiB left on the database's disk" in response.json()["detail"]
