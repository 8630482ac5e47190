"""Notifications from the shell: a channel's URL read from standard input and never shown
again, a webhook's secret generated and printed once, rules, a test message, and a dead
delivery read with its attempts and sent again."""

from __future__ import annotations

import asyncio
import re
import subprocess
from pathlib import Path

import pytest

from tests.e2e.cli import opsledger
from tests.factories import unique
from tests.notifications.conftest import Lab, free_port
from tests.notifications.test_dispatch import dead_delivery, delivery
from tests.schedules.test_cli import settings_of

# The commands parse, call the service and print: the service is tested on every backend
# through the API, the shell once (each command is a new process).
pytestmark = pytest.mark.backends("sqlite")


async def test_channels_rules_and_deliveries_are_managed_from_the_shell(
    lab: Lab, tmp_path: Path
) -> None:
    settings = settings_of(lab.engine) | {"notify_allow_private": "true"}

    async def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(
            opsledger, "notify", *args, cwd=tmp_path, stdin=stdin, **settings
        )

    name, path = unique("hook"), f"/{unique('private-path')}"
    added = await cli("channels", "add", name, "--kind", "webhook", stdin=lab.receiver.url(path))
    secret = re.search(r"signing secret \(shown once\): (\S+)", added.stdout)
    assert secret is not None, added.stdout + added.stderr
    tested = await cli("test", name)
    nowhere = unique("closed")
    await cli("channels", "add", nowhere, "-k", "slack", "--default-rules",
              stdin=f"http://127.0.0.1:{free_port()}/x")  # fmt: skip
    refused = await cli("test", nowhere)
    defaults = await cli("rules", "list", "--channel", nowhere)
    no_url = await cli("channels", "add", unique("slack"), "-k", "slack", stdin="")
    ruled = await cli("rules", "add", "--channel", name, "--event", "alert.firing",
                      "--environment", "prod")  # fmt: skip
    bad_rule = await cli(
        "rules", "add", "-c", name, "-e", "job.failed", "--min-severity", "critical"
    )
    rules = await cli("rules", "list", "--channel", name)
    disabled = await cli("channels", "disable", name)
    channels = await cli("channels", "list", "--limit", "500")

    assert tested.returncode == 0, tested.stderr
    (message,) = lab.receiver.at(path)
    assert message.signed_by(secret.group(1))
    assert refused.returncode == 1
    assert "run.recovered" in defaults.stdout
    assert "min_priority=high" in defaults.stdout
    assert "error:" in refused.stderr
    assert no_url.returncode == 1
    assert "standard input" in no_url.stderr
    assert ruled.returncode == 0, ruled.stderr
    assert bad_rule.returncode == 1
    assert "min_severity" in bad_rule.stderr
    assert "alert.firing" in rules.stdout
    assert "environment=prod" in rules.stdout
    assert disabled.returncode == 0, disabled.stderr
    listed = next(line for line in channels.stdout.splitlines() if name in line)
    assert "127.0.0.1" in listed
    assert " no " in listed
    assert path not in channels.stdout
    assert secret.group(1) not in tested.stdout + rules.stdout + channels.stdout


async def test_a_dead_delivery_is_read_and_sent_again_from_the_shell(
    lab: Lab, tmp_path: Path
) -> None:
    settings = settings_of(lab.engine) | {"notify_allow_private": "true"}
    hook, dead = await dead_delivery(lab)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return opsledger("notify", "deliveries", *args, cwd=tmp_path, **settings)

    listed = await asyncio.to_thread(cli, "list", "--channel", hook["name"], "--status", "dead")
    shown = await asyncio.to_thread(cli, "show", str(dead["id"]))
    retried = await asyncio.to_thread(cli, "retry", str(dead["id"]))
    again = await asyncio.to_thread(cli, "retry", str(dead["id"]))

    assert str(dead["id"]) in listed.stdout
    assert "HTTP 500" in listed.stdout
    assert dead["uuid"] in shown.stdout
    assert shown.stdout.count("HTTP 500") == 3  # one line per attempt
    assert retried.returncode == 0, retried.stderr
    assert (await delivery(lab, hook))["status"] == "pending"
    assert again.returncode == 1  # pending now: only a dead delivery is retried
