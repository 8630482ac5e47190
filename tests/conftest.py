"""Fixtures: real databases on every selected backend, each test in a rolled-back transaction."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

import opsledger.models  # noqa: F401 - every mapper registered
from opsledger import migrations
from opsledger.config import Settings
from opsledger.db.engine import create_engine
from opsledger.security.crypto import KeyRing, install_key_ring
from opsledger.security.throttle import LoginThrottle
from opsledger.users.models import UserRole
from opsledger.worker.sandbox import create_runner_user
from tests.api import ENCRYPTION_KEY, Person, build_app, client_for, make_person
from tests.databases import (
    COPIES,
    backends_required,
    copy_database,
    create_database,
    drop_database,
    selected_backends,
)
from tests.sshd import SshServer, ssh_server, sshd_available

BACKENDS = selected_backends()
# The machine is shared and CI runs three workers on two cores: a draw that stalls for a
# second is the load, not a slow strategy. Property tests assert outcomes, never time.
settings.register_profile("shared", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("shared")
# One name per concurrent run, so two checkouts on one machine don't trample each other.
DATABASE_PREFIX = f"opsledger_test_{os.getpid()}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``@pytest.mark.backends("postgresql")`` keeps a test only on the backends named,
    deselecting (not skipping) the others: a skip in CI means a backend went missing."""
    keep, drop = [], []
    for item in items:
        marker = item.get_closest_marker("backends")
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("backend") if callspec else None
        if marker and backend and backend not in marker.args:
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session", autouse=True)
def key_ring() -> Iterator[KeyRing]:
    ring = KeyRing([ENCRYPTION_KEY.encode()])
    previous = install_key_ring(ring)
    yield ring
    install_key_ring(previous)


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="session")
def sqlite_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sqlite")


async def fresh_database(backend: str, name: str, sqlite_dir: Path) -> str:
    """Create a database, skipping (or in CI failing) when the backend is unreachable."""
    try:
        return await create_database(backend, f"{DATABASE_PREFIX}_{name}", sqlite_dir)
    except (OSError, OperationalError) as exc:
        message = f"{backend} is not reachable: {exc}"
        if backends_required():
            pytest.fail(message)
        pytest.skip(message)


def settings_for(url: str) -> Settings:
    return Settings(database_url=url, pool_size=5, max_overflow=5)


# Per backend, a database this process migrated once, which new ones are copied from.
TEMPLATES: dict[str, str] = {}


async def _migrate(url: str) -> None:
    engine = create_engine(settings_for(url))
    try:
        await migrations.upgrade(engine)
    finally:
        await engine.dispose()  # no one may stay connected to a template


async def _template(backend: str, sqlite_dir: Path) -> str:
    if backend not in TEMPLATES:
        url = await fresh_database(backend, "template", sqlite_dir)
        await _migrate(url)
        TEMPLATES[backend] = url
    return TEMPLATES[backend]


async def _migrated_url(backend: str, name: str, sqlite_dir: Path) -> str:
    """A new database at the newest schema: a copy of this process's template where the
    backend copies faster than it migrates, else migrated."""
    if backend in COPIES:
        template = await _template(backend, sqlite_dir)
        return await copy_database(backend, template, f"{DATABASE_PREFIX}_{name}", sqlite_dir)
    url = await fresh_database(backend, name, sqlite_dir)
    await _migrate(url)
    return url


@asynccontextmanager
async def migrated_database(
    backend: str, name: str, sqlite_dir: Path
) -> AsyncIterator[AsyncEngine]:
    """A new database at the newest schema, dropped afterwards."""
    url = await _migrated_url(backend, name, sqlite_dir)
    engine = create_engine(settings_for(url))
    yield engine
    await engine.dispose()
    await drop_database(backend, url)


@pytest.fixture(scope="session", autouse=True)
async def drop_templates() -> AsyncIterator[None]:
    yield
    for backend, url in TEMPLATES.items():
        await drop_database(backend, url)


@pytest.fixture(scope="session")
async def engine(backend: str, sqlite_dir: Path) -> AsyncIterator[AsyncEngine]:
    """A migrated database per backend, shared by the whole test session."""
    async with migrated_database(backend, "main", sqlite_dir) as shared:
        yield shared


@pytest.fixture
async def scratch_engine(backend: str, sqlite_dir: Path) -> AsyncIterator[AsyncEngine]:
    """A migrated database of its own, for tests that change what others would see
    (the audit chain, every encrypted value, the set of admins)."""
    async with migrated_database(backend, "scratch", sqlite_dir) as scratch:
        yield scratch


@pytest.fixture(scope="session")
def shared_app(engine: AsyncEngine, tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    """One app per backend and worker: building one costs 0.17 s, and most tests only talk
    to it. Playbooks it registers are written under the test run's temporary directory,
    never the working directory."""
    return build_app(engine, playbook_root=tmp_path_factory.mktemp("playbooks"))


@pytest.fixture
def app(shared_app: FastAPI) -> FastAPI:
    """The shared app with a login throttle of the test's own: other tests' failed logins
    must not count against this one."""
    shared_app.state.login_throttle = LoginThrottle.from_settings(shared_app.state.settings)
    return shared_app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async for client in client_for(app):
        yield client


@pytest.fixture
async def admin(engine: AsyncEngine) -> Person:
    return await make_person(engine, UserRole.admin)


@pytest.fixture
async def operator(engine: AsyncEngine) -> Person:
    return await make_person(engine, UserRole.operator)


@pytest.fixture
async def viewer(engine: AsyncEngine) -> Person:
    return await make_person(engine, UserRole.viewer)


@pytest.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session inside a transaction that is rolled back after the test; the code under
    test may commit, which releases a savepoint instead."""
    async with engine.connect() as connection:
        transaction = await connection.begin()
        unit = AsyncSession(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        try:
            yield unit
        finally:
            await unit.close()
            await transaction.rollback()


@pytest.fixture(scope="session")
def ssh() -> Iterator[SshServer]:
    if not sshd_available():
        message = "openssh-server is not installed (.ci/run installs it)"
        if backends_required():
            pytest.fail(message)
        pytest.skip(message)
    # As root (CI), playbooks run as the runner account that `opsledger up` would create.
    create_runner_user(Settings())
    with ssh_server() as server:
        yield server
