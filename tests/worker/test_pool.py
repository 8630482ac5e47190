"""The runtime's own bookkeeping: what a claim of a job that is gone answers, and the
periodic work domains declare, run by the pool."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.db.session import session_factory, unit_of_work
from opsledger.jobs import lifecycle
from opsledger.kit.periodic import Periodic
from opsledger.security.context import system_context
from opsledger.worker import pool as pool_module
from opsledger.worker.pool import JobPool
from tests.api import api_settings


async def test_claiming_a_job_that_does_not_exist_answers_nothing(engine: AsyncEngine) -> None:
    """A task can outlive its job's row (a broker message after a restore): the worker
    takes nothing, it does not fail."""
    async with unit_of_work(session_factory(engine)) as session:
        ctx = system_context(session, api_settings(), "test")
        assert await lifecycle.claim(ctx, 2_000_000_000) is None


async def test_the_pool_runs_declared_periodic_work_one_run_at_a_time(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = 0
    release = asyncio.Event()

    async def slow(_engine: AsyncEngine, _settings: object) -> None:
        nonlocal started
        started += 1
        await release.wait()

    work = Periodic("test-work", every=lambda _settings: 0.01, first_delay=0, run=slow)
    monkeypatch.setattr(pool_module, "PERIODIC", (work,))
    pool = JobPool(engine, api_settings(job_poll_seconds=0.01), concurrency=0)
    pool.start()
    try:
        async with asyncio.timeout(30):
            while started == 0:
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)  # due many times over while the first run goes on
        assert started == 1
        release.set()
        async with asyncio.timeout(30):
            while started < 2:
                await asyncio.sleep(0.01)
    finally:
        await pool.stop()


async def test_periodic_work_that_is_switched_off_never_runs(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = []

    async def record(_engine: AsyncEngine, _settings: object) -> None:
        runs.append(1)

    work = Periodic("off", every=lambda _settings: 0, first_delay=0, run=record)
    monkeypatch.setattr(pool_module, "PERIODIC", (work,))
    pool = JobPool(engine, api_settings(job_poll_seconds=0.01), concurrency=0)
    pool.start()
    await asyncio.sleep(0.3)
    await pool.stop()
    assert runs == []


async def test_a_pass_that_loses_the_database_is_logged_and_the_next_one_runs(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    passes = 0

    async def unreachable(_engine: AsyncEngine, _settings: object) -> None:
        nonlocal passes
        passes += 1
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("the database is away"))

    work = Periodic("flaky", every=lambda _settings: 0.01, first_delay=0, run=unreachable)
    monkeypatch.setattr(pool_module, "PERIODIC", (work,))
    pool = JobPool(engine, api_settings(job_poll_seconds=0.01), concurrency=0)
    pool.start()
    try:
        async with asyncio.timeout(30):
            while passes < 2:
                await asyncio.sleep(0.01)
    finally:
        await pool.stop()
    assert "flaky: this pass failed; the next one tries again" in caplog.text
