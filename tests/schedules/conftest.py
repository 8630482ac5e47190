"""A launchable template for schedules: an active playbook and hosts its selector matches
(no runner is started: the runs schedules make stay pending)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.db.session import session_factory, unit_of_work
from tests import factories as f

PROMPTS = [
    {"name": "version", "type": "choice", "choices": ["1.0", "1.1"], "required": True},
    {"name": "token", "type": "secret"},
]


@dataclass(frozen=True)
class Target:
    template_id: int
    host_ids: list[int]


async def make_target(engine: AsyncEngine, hosts: int = 2, **template: Any) -> Target:
    tag = f.unique("sched")
    async with unit_of_work(session_factory(engine)) as session:
        playbook = await f.make_playbook(session)
        made = [await f.make_host(session, tags={"fleet": tag}) for _ in range(hosts)]
        fields = {"selector": {"tags": [f"fleet={tag}"]}, "prompts": PROMPTS} | template
        row = await f.make_template(session, playbook_id=playbook.id, **fields)
        return Target(row.id, [host.id for host in made])


@pytest.fixture
async def target(engine: AsyncEngine) -> Target:
    return await make_target(engine)


def schedule_body(template_id: int, **fields: Any) -> dict[str, Any]:
    return {
        "name": f.unique("nightly"),
        "template_id": template_id,
        "cron": "30 2 * * *",
        "timezone": "Europe/Berlin",
        "prompts": {"version": "1.1"},
    } | fields
