"""Schedules from the shell: add one with prompt values as text, list it, preview its
times and an unsaved expression's, disable and enable it, fire what is due."""

from __future__ import annotations

import asyncio
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.db.session import session_factory, unit_of_work
from opsledger.schedules import service
from opsledger.schedules.schemas import ScheduleCreate
from opsledger.security.context import cli_context
from tests.api import ENCRYPTION_KEY, JWT_SECRET, Person, api_settings
from tests.e2e.cli import opsledger
from tests.factories import unique
from tests.schedules.conftest import Target, schedule_body


def settings_of(engine: AsyncEngine) -> dict[str, str]:
    return {
        "database_url": engine.url.render_as_string(hide_password=False),
        "encryption_keys": ENCRYPTION_KEY,
        "jwt_secret": JWT_SECRET,
    }


# The commands parse, call the schedules service and print: the service is tested on every
# backend through the API, the shell once (each command is a new process: 2 s here).
@pytest.mark.backends("sqlite")
async def test_a_schedule_is_added_listed_previewed_and_switched_from_the_shell(
    engine: AsyncEngine, operator: Person, target: Target, tmp_path: Path
) -> None:
    settings = settings_of(engine)

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


async def test_due_schedules_are_fired_from_the_shell(
    engine: AsyncEngine, operator: Person, target: Target, tmp_path: Path
) -> None:
    at = datetime.now(UTC) + timedelta(seconds=1)
    async with unit_of_work(session_factory(engine)) as session:
        ctx = cli_context(session, api_settings())
        body = ScheduleCreate.model_validate(
            schedule_body(target.template_id, cron=None, run_at=at, prompts={"version": "1.0"})
        )
        schedule = await service.create(ctx, body, owner_id=operator.id)
    await asyncio.sleep((at - datetime.now(UTC)).total_seconds() + 0.1)

    fired = await asyncio.to_thread(
        opsledger, "schedules", "fire", cwd=tmp_path, **settings_of(engine)
    )

    assert fired.returncode == 0, fired.stderr
    assert re.search(rf"schedule {schedule.id} due \S+: launched run \d+", fired.stdout)
