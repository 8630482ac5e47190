"""A server killed outright (SIGKILL) after it committed an event's delivery and before
it sent it: the delivery waits in the outbox, and the next server to start sends it,
once, to a real receiver."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from opsledger.db.session import session_factory, unit_of_work
from tests import factories as f
from tests.e2e.cli import OPSLEDGER, clean_env, free_port, wait_until_healthy
from tests.notifications.conftest import Lab
from tests.notifications.test_dispatch import delivery
from tests.schedules.test_cli import settings_of


@contextmanager
def server(lab: Lab, **settings: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``opsledger serve`` on the test's database, reaching the loopback receiver; the
    runtime's other periodic work is off (other tests' schedules are not its to fire)."""
    port = free_port()
    env = clean_env(
        **settings_of(lab.engine),
        notify_allow_private="true",
        schedule_poll_seconds="0",
        ticket_overdue_poll_seconds="0",
        job_concurrency="0",
        **settings,
    )
    process = subprocess.Popen(
        [OPSLEDGER, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(f"{url}/healthz", process)
        yield url, process
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(timeout=30)


async def test_a_delivery_committed_before_a_kill_is_sent_once_after_the_restart(
    lab: Lab,
) -> None:
    environment = f.unique("env")
    hook = await lab.channel("webhook")
    await lab.rule(hook, "alert.firing", environment=environment)
    async with unit_of_work(session_factory(lab.engine)) as session:
        host_id = (await f.make_host(session, environment=environment)).id
    alert = {"source": "test", "severity": "critical", "title": "disk full", "host_id": host_id}

    # The first server commits the alert and its delivery, and dies before any pass
    # (its dispatcher is off: the kill lands between the commit and the send).
    with server(lab, notify_poll_seconds="0") as (url, first):
        async with httpx.AsyncClient(base_url=url) as http:
            raised = await http.post("/api/v1/alerts", json=alert, headers=lab.admin.headers)
        first.send_signal(signal.SIGKILL)
        await asyncio.to_thread(first.wait, 30)
    waiting = await delivery(lab, hook)

    with server(lab, notify_poll_seconds="0.2"):
        async with asyncio.timeout(30):
            while not lab.receiver.at(hook["path"]):
                await asyncio.sleep(0.1)
        await asyncio.sleep(1.5)  # several more passes: none sends it again
    sent = await delivery(lab, hook)

    assert raised.status_code == 201, raised.text
    assert first.returncode == -signal.SIGKILL
    assert (waiting["status"], waiting["attempts"]) == ("pending", 0)
    [received] = lab.receiver.at(hook["path"])
    assert received.headers["idempotency-key"] == waiting["uuid"]
    assert (sent["status"], sent["attempts"]) == ("delivered", 1)
