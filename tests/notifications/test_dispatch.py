"""The dispatcher against real receivers: a signed webhook with its Idempotency-Key, a
Slack-compatible webhook and SMTP; retries with backoff until delivered or dead; every
attempt recorded; each delivery claimed by one dispatcher only."""

from __future__ import annotations

import asyncio
import email
import email.policy
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.alerts import service as alerts
from opsledger.alerts.schemas import AlertCreate
from opsledger.db.base import utcnow
from opsledger.db.session import session_factory, unit_of_work
from opsledger.models import NotificationDelivery
from opsledger.notifications import dispatch
from opsledger.worker.pool import PERIODIC, JobPool
from tests import factories as f
from tests.api import audit_trail
from tests.notifications.conftest import SECRET, Lab
from tests.notifications.test_outbox import in_unit


async def fire_alert(lab: Lab, environment: str, title: str = "disk full") -> int:
    """A critical alert on a host of ``environment``: the event the tests route."""
    async with unit_of_work(session_factory(lab.engine)) as session:
        host_id = (await f.make_host(session, environment=environment)).id
    body = AlertCreate(source="test", severity="critical", title=title, host_id=host_id)
    alert, _ = await in_unit(lab, lambda ctx: alerts.raise_alert(ctx, body))
    return alert.id


async def delivery(lab: Lab, channel: dict[str, Any]) -> dict[str, Any]:
    [only] = await lab.deliveries(channel)
    response = await lab.client.get(
        f"/notification-deliveries/{only['id']}", headers=lab.admin.headers
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def settled(lab: Lab, channel: dict[str, Any], status: str) -> bool:
    return [each["status"] for each in await lab.deliveries(channel)] == [status]


async def dead_delivery(lab: Lab) -> tuple[dict[str, Any], dict[str, Any]]:
    """A webhook channel and its delivery, dead: the receiver refused every attempt."""
    environment = f.unique("env")
    hook = await lab.channel("webhook")
    await lab.rule(hook, "alert.firing", environment=environment)
    lab.receiver.statuses = [500] * 3
    await fire_alert(lab, environment)
    await lab.deliver_until(lambda: settled(lab, hook, "dead"))
    return hook, await delivery(lab, hook)


async def test_every_channel_kind_receives_its_message(lab: Lab) -> None:
    environment = f.unique("env")
    hook, chat, mail = (
        await lab.channel("webhook"),
        await lab.channel("slack"),
        await lab.channel("email"),
    )
    for channel in (hook, chat, mail):
        await lab.rule(channel, "alert.firing", environment=environment)
    alert_id = await fire_alert(lab, environment, "disk <full>")
    for channel in (hook, chat, mail):
        await lab.deliver_until(lambda channel=channel: settled(lab, channel, "delivered"))

    sent = await delivery(lab, hook)
    [request] = lab.receiver.at(hook["path"])
    assert request.signed_by(SECRET)
    assert request.headers["idempotency-key"] == sent["uuid"]
    assert request.headers["content-type"] == "application/json"
    assert request.json["id"] == sent["uuid"]
    assert request.json["event"] == "alert.firing"
    assert request.json["subject"] == {"type": "alert", "id": alert_id}
    assert request.json["link"] == f"https://ops.example/alerts/{alert_id}"
    assert request.json["text"] == "Alert firing (critical): disk <full>"
    assert sent["attempts"] == 1
    assert sent["response_status"] == 200
    assert sent["delivered_at"] is not None
    assert [a["response_status"] for a in sent["attempt_log"]] == [200]

    link = f"https://ops.example/alerts/{alert_id}"
    [posted] = lab.receiver.at(chat["path"])
    assert posted.json["text"] == f"Alert firing (critical): disk &lt;full&gt; <{link}|open>"
    header, facts, actions, footer = posted.json["blocks"]
    assert header["text"] == {
        "type": "mrkdwn",
        "text": "*Alert firing (critical): disk &lt;full&gt;*",
    }
    assert {"type": "mrkdwn", "text": "*severity*\ncritical"} in facts["fields"]
    assert actions["elements"][0]["url"] == link
    assert footer["elements"][0]["text"] == "alert.firing"
    assert "x-opsledger-signature" not in posted.headers

    [mailed] = lab.mailbox.to(mail["address"])
    parsed = email.message_from_string(mailed, policy=email.policy.default)
    assert parsed["Subject"] == "[opsledger] Alert firing (critical): disk <full>"
    plain = parsed.get_body(("plain",))
    html = parsed.get_body(("html",))
    assert plain is not None and html is not None  # noqa: PT018
    assert "disk <full>" in plain.get_content()
    assert link in plain.get_content()
    assert "disk &lt;full&gt;" in html.get_content()  # autoescaped: text, never markup
    assert "<full>" not in html.get_content()
    assert f'<a href="{link}">' in html.get_content()
    assert (await delivery(lab, mail))["response_status"] == 250


async def test_a_failing_receiver_is_retried_with_the_same_key_until_it_takes_it(
    lab: Lab,
) -> None:
    environment = f.unique("env")
    hook = await lab.channel("webhook")
    await lab.rule(hook, "alert.firing", environment=environment)
    lab.receiver.statuses = [503, 500]
    lab.receiver.reply = b"down for maintenance"
    await fire_alert(lab, environment)
    await lab.deliver_until(lambda: settled(lab, hook, "delivered"))
    sent = await delivery(lab, hook)
    assert sent["attempts"] == 3
    assert [(a["number"], a["ok"], a["response_status"]) for a in sent["attempt_log"]] == [
        (1, False, 503),
        (2, False, 500),
        (3, True, 200),
    ]
    assert sent["attempt_log"][0]["error"] == "HTTP 503"
    assert sent["attempt_log"][0]["reply"] == "down for maintenance"
    keys = {request.headers["idempotency-key"] for request in lab.receiver.at(hook["path"])}
    assert keys == {sent["uuid"]}
    assert len(lab.receiver.at(hook["path"])) == 3


async def test_a_delivery_out_of_attempts_is_dead_until_an_admin_retries_it(
    lab: Lab, engine: AsyncEngine
) -> None:
    hook, dead = await dead_delivery(lab)
    assert dead["attempts"] == 3  # notify_max_attempts
    assert dead["last_error"] == "HTTP 500"
    assert len(lab.receiver.at(hook["path"])) == 3
    await lab.deliver()
    assert len(lab.receiver.at(hook["path"])) == 3  # dead: not sent again by itself

    listed = await lab.client.get(
        "/notification-deliveries",
        params={"channel_id": hook["id"], "status": "dead"},
        headers=lab.admin.headers,
    )
    assert [each["id"] for each in listed.json()["items"]] == [dead["id"]]
    retried = await lab.client.post(
        f"/notification-deliveries/{dead['id']}/retry", headers=lab.admin.headers
    )
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "pending"
    assert await audit_trail(engine, retried) == [("retry", "notification_delivery")]
    await lab.deliver_until(lambda: settled(lab, hook, "delivered"))
    assert (await delivery(lab, hook))["attempts"] == 4
    again = await lab.client.post(
        f"/notification-deliveries/{dead['id']}/retry", headers=lab.admin.headers
    )
    assert again.status_code == 409


async def test_a_redirect_is_a_failure_and_is_not_followed(lab: Lab) -> None:
    environment = f.unique("env")
    hook = await lab.channel("webhook")
    await lab.rule(hook, "alert.firing", environment=environment)
    lab.receiver.statuses = [302, 302, 302]
    lab.receiver.headers = {"Location": lab.receiver.url("/elsewhere")}
    await fire_alert(lab, environment)
    await lab.deliver_until(lambda: settled(lab, hook, "dead"))
    assert lab.receiver.at("/elsewhere") == []
    assert (await delivery(lab, hook))["last_error"] == "HTTP 302"


async def test_only_the_start_of_a_large_answer_is_read(lab: Lab) -> None:
    environment = f.unique("env")
    hook = await lab.channel("webhook")
    await lab.rule(hook, "alert.firing", environment=environment)
    lab.receiver.reply = b"x" * 1_000_000
    await fire_alert(lab, environment)
    await lab.deliver_until(lambda: settled(lab, hook, "delivered"))
    [attempt] = (await delivery(lab, hook))["attempt_log"]
    assert attempt["reply"] == "x" * 2048


async def test_two_dispatchers_send_each_delivery_once(lab: Lab) -> None:
    environment = f.unique("env")
    hooks = [await lab.channel("webhook") for _ in range(3)]
    for hook in hooks:
        await lab.rule(hook, "alert.firing", environment=environment)
    for number in range(5):
        await fire_alert(lab, environment, f"alert {number}")
    await asyncio.gather(lab.deliver(), lab.deliver())
    for hook in hooks:
        await lab.deliver_until(
            lambda hook=hook: _all_delivered(lab, hook)  # anything the first pass left
        )
        keys = [request.headers["idempotency-key"] for request in lab.receiver.at(hook["path"])]
        assert len(keys) == 5
        assert len(set(keys)) == 5


async def _all_delivered(lab: Lab, channel: dict[str, Any]) -> bool:
    return {each["status"] for each in await lab.deliveries(channel)} == {"delivered"}


async def test_an_unreachable_receiver_is_recorded_as_an_error(lab: Lab) -> None:
    environment = f.unique("env")
    hook = await lab.channel("webhook", url="http://127.0.0.1:9/closed")
    await lab.rule(hook, "alert.firing", environment=environment)
    await fire_alert(lab, environment)
    await lab.deliver_until(lambda: settled(lab, hook, "dead"))
    attempt = (await delivery(lab, hook))["attempt_log"][0]
    assert attempt["response_status"] is None
    assert "ConnectError" in attempt["error"]


def test_each_server_process_repeats_the_dispatcher() -> None:
    assert dispatch.PERIODIC in PERIODIC


async def test_deliveries_are_listed_newest_first_a_page_at_a_time(lab: Lab) -> None:
    environment = f.unique("env")
    hook = await lab.channel("slack")
    await lab.rule(hook, "alert.firing", environment=environment)
    for number in range(3):
        await fire_alert(lab, environment, f"alert {number}")
    first = await lab.client.get(
        "/notification-deliveries",
        params={"channel_id": hook["id"], "limit": 2},
        headers=lab.admin.headers,
    )
    body = first.json()
    assert [each["text"] for each in body["items"]] == [
        "Alert firing (critical): alert 2",
        "Alert firing (critical): alert 1",
    ]
    rest = await lab.client.get(
        "/notification-deliveries",
        params={"channel_id": hook["id"], "limit": 2, "after": body["next_cursor"]},
        headers=lab.admin.headers,
    )
    assert [each["text"] for each in rest.json()["items"]] == ["Alert firing (critical): alert 0"]
    assert rest.json()["next_cursor"] is None
    assert uuid.UUID(body["items"][0]["uuid"])


async def test_metrics_count_attempts_by_kind_and_outcome_and_show_the_outbox(lab: Lab) -> None:
    environment = f.unique("env")
    hook = await lab.channel("webhook")
    await lab.rule(hook, "alert.firing", environment=environment)
    lab.receiver.statuses = [500]
    await fire_alert(lab, environment)
    before = await lab.client.get("http://opsledger.test/metrics")
    assert 'opsledger_notification_outbox{status="pending"}' in before.text
    assert "opsledger_notification_oldest_pending_seconds" in before.text
    await lab.deliver_until(lambda: settled(lab, hook, "delivered"))
    after = (await lab.client.get("http://opsledger.test/metrics")).text
    assert 'opsledger_notification_attempts_total{kind="webhook",outcome="retry"}' in after
    assert 'opsledger_notification_attempts_total{kind="webhook",outcome="delivered"}' in after


async def test_a_claim_holds_until_it_runs_out_then_another_dispatcher_sends_it(
    lab: Lab,
) -> None:
    """A dispatcher that died mid-send leaves its claim: nobody sends the delivery while
    the claim holds, and once it ran out another sends it, with the same key."""
    environment = f.unique("env")
    hook = await lab.channel("webhook")
    await lab.rule(hook, "alert.firing", environment=environment)
    await fire_alert(lab, environment)
    [waiting] = await lab.deliveries(hook)
    now = utcnow()
    async with unit_of_work(session_factory(lab.engine)) as session:  # as a claim leaves it
        await session.execute(
            update(NotificationDelivery)
            .where(NotificationDelivery.id == waiting["id"])
            .values(
                status="sending", attempts=1, tries_left=2, claimed_until=now + timedelta(minutes=5)
            )
        )
    await lab.deliver()
    assert lab.receiver.at(hook["path"]) == []
    async with unit_of_work(session_factory(lab.engine)) as session:  # the claim runs out
        await session.execute(
            update(NotificationDelivery)
            .where(NotificationDelivery.id == waiting["id"])
            .values(claimed_until=now - timedelta(seconds=1))
        )
    await lab.deliver_until(lambda: settled(lab, hook, "delivered"))
    sent = await delivery(lab, hook)
    assert sent["attempts"] == 2  # the lost one counts
    assert [attempt["number"] for attempt in sent["attempt_log"]] == [2]
    [received] = lab.receiver.at(hook["path"])
    assert received.headers["idempotency-key"] == waiting["uuid"]


async def test_a_delivery_this_process_commits_is_sent_at_its_runtimes_next_tick(
    lab: Lab,
) -> None:
    """The dispatcher polls for what other processes wrote; what this process writes
    nudges it, so a job's failure reaches the pager in well under the poll."""
    environment = f.unique("env")
    hook = await lab.channel("webhook")
    await lab.rule(hook, "alert.firing", environment=environment)
    settings = lab.settings.model_copy(
        update={
            "notify_poll_seconds": 3600,
            "job_poll_seconds": 0.1,
            "schedule_poll_seconds": 0,
            "ticket_overdue_poll_seconds": 0,
            "retention_interval_hours": 0,
        }
    )
    pool = JobPool(lab.engine, settings, concurrency=0)
    pool.start()
    try:
        await asyncio.sleep(1.5)  # its first pass is behind it: the next is an hour away
        await fire_alert(lab, environment)
        async with asyncio.timeout(10):
            while not lab.receiver.at(hook["path"]):
                await asyncio.sleep(0.05)
    finally:
        await pool.stop()
