"""A fleet lab: the jobs lab with several host records on the one loopback sshd (distinct
hostnames, tagged for one run), and helpers to launch and wait for runs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.api import Person, audit_trail
from tests.factories import unique
from tests.jobs.conftest import FINISHED, Lab, open_lab
from tests.sshd import SshServer


class Fleet:
    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.tag = unique("fleet")

    async def hosts(self, *names: str, **fields: Any) -> list[dict[str, Any]]:
        """Hosts named ``name-…`` in launch order (the run takes them by id), tagged for
        this fleet's selector."""
        made = []
        for name in names:
            hostname = f"{unique(name)}.test"
            made.append(await self.lab.host(hostname=hostname, tags={"fleet": self.tag}, **fields))
        return made

    @property
    def selector(self) -> dict[str, Any]:
        return {"tags": [f"fleet={self.tag}"]}

    async def launch(self, playbook: dict[str, Any], **body: Any) -> dict[str, Any]:
        response = await self.lab.client.post(
            "/runs",
            json={"playbook_id": playbook["id"], "selector": self.selector, **body},
            headers=self.lab.operator.headers,
        )
        assert response.status_code == 202, response.text
        run = dict(response.json())
        # One audited change: the run and the job of each of its hosts, in one request.
        jobs = [("create", "job")] * run["hosts"]
        assert await audit_trail(self.lab.engine, response) == [("create", "run"), *jobs]
        return run

    async def run(self, run_id: int) -> dict[str, Any]:
        response = await self.lab.client.get(f"/runs/{run_id}", headers=self.lab.operator.headers)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def wait(self, run_id: int, timeout: float = 120) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while (await self.run(run_id))["status"] not in FINISHED:
                await asyncio.sleep(0.1)
            while self.lab.pool.running:
                await asyncio.sleep(0.05)
        return await self.run(run_id)

    async def page(self, path: str) -> list[dict[str, Any]]:
        response = await self.lab.client.get(
            path, params={"limit": 500}, headers=self.lab.operator.headers
        )
        assert response.status_code == 200, response.text
        return list(response.json()["items"])


@pytest.fixture
async def fleet(
    engine: AsyncEngine, admin: Person, operator: Person, ssh: SshServer, tmp_path: Path
) -> AsyncIterator[Fleet]:
    async with open_lab(engine, (admin, operator), ssh, tmp_path) as lab:
        yield Fleet(lab)
