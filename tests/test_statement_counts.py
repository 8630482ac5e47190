"""No N+1: every list endpoint issues the same number of SQL statements for 1 row as
for 100 (counted with an engine event listener)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from opsledger.db.session import session_factory, unit_of_work
from opsledger.users.models import UserRole
from opsledger.web.session import SESSION_COOKIE
from tests import factories as f
from tests.api import Person, build_app, client_for, counting, make_person
from tests.conftest import migrated_database
from tests.web.pages import ROOT

Make = Callable[[AsyncSession, Person, Any], Awaitable[Any]]


async def _credential(session: AsyncSession, _: Person, host: Any) -> Any:
    return await f.make_credential(session, host)


async def _deployment(session: AsyncSession, admin: Person, _: Any) -> Any:
    deployment = await f.make_deployment(session)
    await f.make_resources(session, deployment)
    await f.make_replica(session, deployment)
    return deployment


async def _run(session: AsyncSession, _: Person, __: Any) -> Any:
    run = await f.make_run(session)
    await f.make_job(session, run_id=run.id, batch=0, ok=1, failures=0)
    return run


async def _task(session: AsyncSession, _: Person, anchor: Any) -> Any:
    return await f.make_job_task(session, await f.make_job(session, run_id=anchor.run_id))


LISTS: list[tuple[str, Make]] = [
    ("/hosts", lambda s, a, h: f.make_host(s)),
    ("/host-roles", lambda s, a, h: f.make_role(s)),
    ("/playbooks", lambda s, a, h: f.make_playbook(s)),
    ("/infrastructure", lambda s, a, h: f.make_infrastructure(s, secret_config="{}")),
    ("/applications", lambda s, a, h: f.make_application(s)),
    ("/deployments", _deployment),
    ("/tickets", lambda s, a, h: f.make_ticket(s)),
    ("/jobs", lambda s, a, h: f.make_job(s)),
    ("/alerts", lambda s, a, h: f.make_alert(s)),
    ("/users", lambda s, a, h: f.make_user(s)),
    ("/api-keys", lambda s, a, h: f.make_api_key(s, h.owner)),
    ("/secrets", lambda s, a, h: f.make_secret(s, h.owner)),
    ("/audit", lambda s, a, h: f.make_audit_row(s)),
    ("/hosts/{host}/credentials", _credential),
    ("/job-templates", lambda s, a, h: f.make_template(s, prompts=[{"name": "v", "type": "text"}])),
    # The anchor's template selects every host: each row made is one more host it previews.
    ("/job-templates/{template}/preview", lambda s, a, h: f.make_host(s)),
    ("/runs", _run),
    ("/runs/{run}/hosts", lambda s, a, h: f.make_job(s, run_id=h.run_id, batch=0)),
    ("/runs/{run}/tasks", _task),
    ("/schedules", lambda s, a, h: f.make_schedule(s, template_id=h.template_id)),
    ("/schedules/{schedule}/fires", lambda s, a, h: f.make_fire(s, schedule_id=h.schedule_id)),
]

# Console pages that list rows: the same rule, signed in with the session cookie.
PAGES: list[tuple[str, Make]] = [
    ("/templates", lambda s, a, h: f.make_template(s, prompts=[{"name": "v", "type": "text"}])),
    ("/templates/{template}", lambda s, a, h: f.make_host(s)),
    ("/runs", _run),
    ("/runs/{run}", _task),
    ("/runs/{run}/live", _task),
]


class Anchor:
    """The host (and owner) child rows hang off, a template that selects every host, a run
    and a schedule."""

    def __init__(self, host: Any, owner: Any, template: Any, run: Any, schedule: Any) -> None:
        self.id = host.id
        self.owner = owner
        self.template_id = template.id
        self.run_id = run.id
        self.schedule_id = schedule.id


@pytest.fixture(scope="module")
async def engine(backend: str, sqlite_dir: Path) -> AsyncIterator[AsyncEngine]:
    """A database of the module's own, migrated once: the lists see only this module's
    rows (never a full page of other tests' rows, which would hide an N+1)."""
    async with migrated_database(backend, "counts", sqlite_dir) as counted:
        yield counted


@pytest.fixture(scope="module")
def counted_app(engine: AsyncEngine) -> FastAPI:
    """One app for the module (building one takes FastAPI half a second)."""
    return build_app(engine)


async def costs(
    engine: AsyncEngine, app: FastAPI, path: str, make: Make, *, console: bool = False
) -> None:
    """``path`` (an API path, or a console page's) answers with as many statements after
    99 more rows of ``make`` as with one."""
    admin = await make_person(engine, UserRole.admin)
    async with unit_of_work(session_factory(engine)) as session:
        anchor = Anchor(
            await f.make_host(session),
            await session.get(f.User, admin.id),
            await f.make_template(session),
            await f.make_run(session),
            await f.make_schedule(session),
        )
        await make(session, admin, anchor)
    url = path.format(
        host=anchor.id, template=anchor.template_id, run=anchor.run_id, schedule=anchor.schedule_id
    )
    token = admin.headers["Authorization"].removeprefix("Bearer ")

    async def listed() -> int:
        async for client in client_for(app):
            if console:
                client.base_url = httpx.URL(ROOT)
                client.cookies.set(SESSION_COOKIE, token)
            with counting(engine) as statements:
                response = await client.get(url, params={"limit": 500}, headers=admin.headers)
            assert response.status_code == 200, response.text
            return len(statements)
        raise AssertionError("no client")

    with_one = await listed()
    async with unit_of_work(session_factory(engine)) as session:
        for _ in range(99):
            await make(session, admin, anchor)
    with_hundred = await listed()

    assert with_hundred == with_one


@pytest.mark.parametrize(("path", "make"), LISTS, ids=[path for path, _ in LISTS])
async def test_a_list_costs_the_same_statements_for_1_and_100_rows(
    engine: AsyncEngine, counted_app: FastAPI, path: str, make: Make
) -> None:
    await costs(engine, counted_app, path, make)


@pytest.mark.parametrize(("path", "make"), PAGES, ids=[path for path, _ in PAGES])
async def test_a_console_page_costs_the_same_statements_for_1_and_100_rows(
    engine: AsyncEngine, counted_app: FastAPI, path: str, make: Make
) -> None:
    await costs(engine, counted_app, path, make, console=True)
