"""``opsledger stats``: the same numbers as ``GET /api/v1/stats``, as tables."""

from __future__ import annotations

from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.commands import load_settings, out, run
from opsledger.db.engine import reader
from opsledger.db.session import session_factory, unit_of_work
from opsledger.stats import service
from opsledger.stats.schemas import Stats


def show_stats() -> None:
    """Counts per table, hosts by status and role, jobs, tickets and alerts."""
    settings = load_settings()

    async def collect(engine: AsyncEngine) -> Stats:
        async with unit_of_work(session_factory(reader(engine))) as session:
            return await service.collect(session)

    stats = run(settings, collect)
    for title, counts in (
        ("rows", stats.totals),
        ("hosts by status", stats.hosts_by_status),
        ("hosts by role", stats.hosts_by_role),
        ("jobs by status", stats.jobs_by_status),
        ("open tickets by priority", stats.open_tickets_by_priority),
    ):
        table = Table(title, "count", title_justify="left")
        for name, count in sorted(counts.items()):
            table.add_row(name, str(count))
        out.print(table)
    out.print(f"overdue tickets: {stats.overdue_tickets}   firing alerts: {stats.firing_alerts}")
