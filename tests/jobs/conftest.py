"""A lab for running real playbooks: a loopback sshd, a registered host with its SSH key
credential, playbooks uploaded through the API, and the embedded job pool."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.config import Settings
from opsledger.worker.pool import JobPool
from tests.api import Person, api_settings, build_app, client_for
from tests.factories import unique
from tests.sshd import SshServer

FINISHED = {"success", "failed", "cancelled"}


@dataclass
class Lab:
    engine: AsyncEngine
    settings: Settings
    client: httpx.AsyncClient
    admin: Person
    operator: Person
    ssh: SshServer
    work_dir: Path
    pool: JobPool

    async def playbook(self, tasks: str, **fields: Any) -> dict[str, Any]:
        content = f"- hosts: all\n  gather_facts: false\n  tasks:\n{tasks}"
        body = {"name": unique("playbook"), "content": content, **fields}
        response = await self.client.post("/playbooks", json=body, headers=self.admin.headers)
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def host(self, with_key: bool = True, **fields: Any) -> dict[str, Any]:
        body = {
            "hostname": unique("target") + ".test",
            "ip_address": "127.0.0.1",
            "os_type": "linux",
            "ssh_port": self.ssh.port,
            "ssh_user": self.ssh.user,
            "environment": "production",
            **fields,
        }
        response = await self.client.post("/hosts", json=body, headers=self.operator.headers)
        assert response.status_code == 201, response.text
        host = dict(response.json())
        if with_key:
            credential = {
                "type": "ssh_key",
                "username": self.ssh.user,
                "value": self.ssh.private_key,
            }
            added = await self.client.post(
                f"/hosts/{host['id']}/credentials", json=credential, headers=self.admin.headers
            )
            assert added.status_code == 201, added.text
        return host

    async def launch(self, playbook: dict[str, Any], host: dict[str, Any], **body: Any) -> int:
        response = await self.client.post(
            "/jobs",
            json={"playbook_id": playbook["id"], "host_id": host["id"], **body},
            headers=self.operator.headers,
        )
        assert response.status_code == 202, response.text
        job_id: int = response.json()["id"]
        return job_id

    async def job(self, job_id: int) -> dict[str, Any]:
        response = await self.client.get(f"/jobs/{job_id}", headers=self.operator.headers)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def wait(self, job_id: int, timeout: float = 90) -> dict[str, Any]:
        """The job once it has ended and its runner has let go of it."""
        async with asyncio.timeout(timeout):
            while (job := await self.job(job_id))["status"] not in FINISHED:
                await asyncio.sleep(0.1)
            while any(task_id == job_id for task_id in self.pool.running):
                await asyncio.sleep(0.05)
        return job

    async def lines(self, job_id: int) -> list[dict[str, Any]]:
        response = await self.client.get(
            f"/jobs/{job_id}/logs", params={"limit": 5000}, headers=self.operator.headers
        )
        assert response.status_code == 200, response.text
        return list(response.json()["items"])

    async def output(self, job_id: int) -> str:
        return "\n".join(line["content"] for line in await self.lines(job_id))


def lab_settings(work_dir: Path) -> dict[str, Any]:
    return {
        "playbook_root": work_dir / "playbooks",
        "job_work_dir": work_dir / "jobs",
        "job_poll_seconds": 0.1,
        "job_heartbeat_seconds": 1,
        # Schedules other tests left in the shared database are not this lab's to fire.
        "schedule_poll_seconds": 0,
        "ticket_overdue_poll_seconds": 0,
    }


@asynccontextmanager
async def open_lab(
    engine: AsyncEngine,
    people: tuple[Person, Person],
    ssh: SshServer,
    tmp_path: Path,
    concurrency: int = 4,
    **settings: Any,
) -> AsyncIterator[Lab]:
    """A lab whose pool runs ``concurrency`` jobs (0: another process runs them)."""
    overrides = lab_settings(tmp_path) | settings
    app: FastAPI = build_app(engine, **overrides)
    pool = JobPool(engine, api_settings(**overrides), concurrency)
    pool.start()
    try:
        async for client in client_for(app):
            yield Lab(engine, pool.settings, client, *people, ssh, tmp_path / "jobs", pool)
    finally:
        await pool.stop()


@pytest.fixture
async def lab(
    engine: AsyncEngine, admin: Person, operator: Person, ssh: SshServer, tmp_path: Path
) -> AsyncIterator[Lab]:
    async with open_lab(engine, (admin, operator), ssh, tmp_path) as lab:
        yield lab
