"""The stats wire format."""

from __future__ import annotations

from opsledger.kit.schemas import ResponseSchema


class Stats(ResponseSchema):
    totals: dict[str, int]
    hosts_by_status: dict[str, int]
    hosts_by_role: dict[str, int]
    jobs_by_status: dict[str, int]
    open_tickets_by_priority: dict[str, int]
    overdue_tickets: int
    firing_alerts: int
