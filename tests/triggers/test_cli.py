"""Triggers from the shell: add one for a template (its URL and secret printed once),
list, rotate the secret, read the deliveries, delete."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.api import Person
from tests.e2e.cli import opsledger
from tests.factories import unique
from tests.schedules.test_cli import settings_of
from tests.triggers.test_triggers import github, make_template

# The commands parse, call the service and print: the service is tested on every backend
# through the API, the shell once.
pytestmark = pytest.mark.backends("sqlite")


async def test_a_trigger_is_added_rotated_and_its_deliveries_read(
    engine: AsyncEngine, client: httpx.AsyncClient, operator: Person, tmp_path: Path
) -> None:
    settings = settings_of(engine)
    template_id, _ = await make_template(engine)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return opsledger("triggers", *args, cwd=tmp_path, **settings)

    name = unique("release")
    added = await asyncio.to_thread(
        cli, "add", name, "-t", str(template_id), "-p", "version=/release/tag_name",
        "--alert", "alertname=Down", "--user", operator.username,
    )  # fmt: skip
    secret = re.search(r"secret \(shown once\): (\S+)", added.stdout)
    trigger_id = re.search(r"trigger (\d+)", added.stdout)
    assert secret is not None and trigger_id is not None, added.stdout + added.stderr  # noqa: PT018
    body = json.dumps({"release": {"tag_name": "1.1"}}).encode()
    delivered = await client.post(
        f"/hooks/{trigger_id.group(1)}", content=body,
        headers=github(secret.group(1), body, unique("gh")),
    )  # fmt: skip
    rotated = await asyncio.to_thread(cli, "rotate", name)
    listed = await asyncio.to_thread(cli, "list", "--limit", "500")
    shown = await asyncio.to_thread(cli, "deliveries", name)
    stale = await client.post(
        f"/hooks/{trigger_id.group(1)}", content=body,
        headers=github(secret.group(1), body, unique("gh")),
    )  # fmt: skip
    deleted = await asyncio.to_thread(cli, "delete", name)

    assert delivered.status_code == 202, delivered.text
    assert rotated.returncode == 0, rotated.stderr
    assert secret.group(1) not in rotated.stdout
    assert "secret (shown once)" in rotated.stdout
    assert name in listed.stdout
    assert '{"alertname": "Down"}' in listed.stdout
    assert "launched" in shown.stdout
    assert secret.group(1) not in listed.stdout + shown.stdout
    assert stale.status_code == 401
    assert deleted.returncode == 0, deleted.stderr
