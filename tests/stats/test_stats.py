"""Stats are exact, computed in the database, and the same over HTTP and the CLI."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.db.base import utcnow
from opsledger.db.session import session_factory, unit_of_work
from opsledger.users.models import UserRole
from tests import factories as f
from tests.api import build_app, client_for, make_person
from tests.e2e.cli import opsledger


async def test_stats_count_what_is_there(scratch_engine: AsyncEngine, tmp_path: Path) -> None:
    async with unit_of_work(session_factory(scratch_engine)) as session:
        web = await f.make_role(session, name="web")
        hosts = [
            await f.make_host(session, host_role_id=web.id),
            await f.make_host(session, host_role_id=web.id, status="deployed"),
            await f.make_host(session, status="failed"),
        ]
        job = await f.make_job(session, host_id=hosts[0].id, status="failed")
        await f.make_job(session, host_id=hosts[1].id, status="success")
        await f.make_ticket(
            session, job_id=job.id, priority="high", due_at=utcnow() - timedelta(hours=1)
        )
        await f.make_ticket(
            session, job_id=job.id, priority="high", due_at=utcnow() + timedelta(hours=1)
        )
        await f.make_ticket(session, job_id=job.id, priority="low", status="closed")
        await f.make_alert(session)
        await f.make_alert(session, status="resolved")
    viewer = await make_person(scratch_engine, UserRole.viewer)

    async for client in client_for(build_app(scratch_engine)):
        response = await client.get("/stats", headers=viewer.headers)
    stats = response.json()

    assert response.status_code == 200
    assert stats["totals"]["hosts"] == 3
    assert stats["totals"]["jobs"] == 2
    assert stats["totals"]["tickets"] == 3
    assert stats["hosts_by_status"] == {"new": 1, "deployed": 1, "failed": 1}
    assert stats["hosts_by_role"] == {"web": 2, "(none)": 1}
    assert stats["jobs_by_status"] == {"failed": 1, "success": 1}
    assert stats["open_tickets_by_priority"] == {"high": 2}
    assert stats["overdue_tickets"] == 1
    assert stats["firing_alerts"] == 1
    url = scratch_engine.url.render_as_string(hide_password=False)
    shown = opsledger("stats", cwd=tmp_path, database_url=url)
    assert shown.returncode == 0, shown.stderr
    assert "overdue tickets: 1   firing alerts: 1" in shown.stdout


async def test_stats_need_a_signed_in_user(client: httpx.AsyncClient) -> None:
    assert (await client.get("/stats")).status_code == 401
