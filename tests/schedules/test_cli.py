"""Schedules from the shell: add one with prompt values as text, list it, preview its
times and an unsaved expression's, disable and enable it."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from tests.api import ENCRYPTION_KEY, JWT_SECRET, Person
from tests.e2e.cli import opsledger
from tests.factories import unique
from tests.schedules.conftest import Target


async def test_a_schedule_is_added_listed_previewed_and_switched_from_the_shell(
    engine: AsyncEngine, operator: Person, target: Target, tmp_path: Path
) -> None:
    settings = {
        "database_url": engine.url.render_as_string(hide_password=False),
        "encryption_keys": ENCRYPTION_KEY,
        "jwt_secret": JWT_SECRET,
    }

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return opsledger("schedules", *args, cwd=tmp_path, **settings)

    name = unique("nightly")
    template = ("--template", str(target.template_id), "--user", operator.username)
    refused = await asyncio.to_thread(
        cli, "add", name, *template, "--cron", "30 2 * * *", "-z", "Mars/Olympus"
    )
    added = await asyncio.to_thread(
        cli, "add", name, *template, "--cron", "30 2 * * *", "-z", "Europe/Berlin",
        "-p", "version=1.1", "-p", "token=tok-5678", "--overlap", "queue",
    )  # fmt: skip
    listed = await asyncio.to_thread(cli, "list", "--limit", "500")
    previewed = await asyncio.to_thread(cli, "preview", name, "-n", "3")
    unsaved = await asyncio.to_thread(
        cli, "preview", "--cron", "*/15 * * * *", "-z", "America/New_York", "-n", "4"
    )
    disabled = await asyncio.to_thread(cli, "disable", name)
    enabled = await asyncio.to_thread(cli, "enable", name)

    assert refused.returncode != 0
    assert "timezone" in refused.stderr
    assert added.returncode == 0, added.stderr
    assert "T02:30+0" in added.stdout or "T03:00+0" in added.stdout
    assert name in listed.stdout
    assert previewed.returncode == 0, previewed.stderr
    assert len(previewed.stdout.strip().splitlines()) == 3
    assert len(unsaved.stdout.strip().splitlines()) == 4
    assert f"{name} disabled: next -" in disabled.stdout
    assert f"{name} enabled: next " in enabled.stdout
    assert "tok-5678" not in added.stdout + listed.stdout
