"""Freeze windows from the shell: add (once, or on a cron), list, what is frozen now,
delete."""

from __future__ import annotations

import asyncio
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.e2e.cli import opsledger
from tests.factories import unique
from tests.schedules.test_cli import settings_of

# The commands parse, call the service and print: the services are tested on every
# backend through the API, the shell once.
pytestmark = pytest.mark.backends("sqlite")


async def test_a_freeze_window_is_added_listed_shown_active_and_deleted(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    settings = settings_of(engine)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return opsledger("freeze-windows", *args, cwd=tmp_path, **settings)

    name, weekly = unique("release"), unique("weekend")
    environment = unique("env")
    now = datetime.now(UTC)
    added = await asyncio.to_thread(
        cli, "add", name, "--from", (now - timedelta(minutes=1)).isoformat(),
        "--until", (now + timedelta(hours=1)).isoformat(), "-E", environment,
    )  # fmt: skip
    # Scoped: from Friday 18:00 to Monday it would freeze every other test's launches.
    recurring = await asyncio.to_thread(
        cli, "add", weekly, "--cron", "0 18 * * 5", "--minutes", "3840", "-z", "Europe/Berlin",
        "-E", environment,
    )  # fmt: skip
    refused = await asyncio.to_thread(cli, "add", unique("bad"), "--cron", "0 18 * * 5")
    listed = await asyncio.to_thread(cli, "list", "--limit", "500")
    active = await asyncio.to_thread(cli, "active")
    deleted = await asyncio.to_thread(cli, "delete", name)
    after = await asyncio.to_thread(cli, "active")

    assert added.returncode == 0, added.stderr
    assert recurring.returncode == 0, recurring.stderr
    assert "0 18 * * 5 (Europe/Berlin) for 3840 min" in recurring.stdout
    assert refused.returncode == 1
    assert "duration_minutes" in refused.stderr
    assert name in listed.stdout
    assert f"environments {environment}" in listed.stdout
    assert f"{name}: environments {environment} until" in active.stdout
    assert deleted.returncode == 0, deleted.stderr
    assert name not in after.stdout
