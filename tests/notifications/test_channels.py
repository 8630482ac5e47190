"""Channels and rules: admins only, secrets never shown, outbound URLs checked, every
change audited."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.api import Person, audit_trail
from tests.factories import unique
from tests.notifications.conftest import SECRET, Lab, Receiver


async def test_a_webhook_channel_keeps_its_secret_and_url_encrypted_and_never_shows_them(
    lab: Lab, engine: AsyncEngine
) -> None:
    channel = await lab.channel("webhook")
    assert channel["url_origin"] == f"http://127.0.0.1:{lab.receiver.port}"
    assert channel["has_secret"] is True
    assert "secret" not in channel
    assert "url" not in channel
    async with engine.connect() as connection:
        url, secret = (
            await connection.execute(
                text("SELECT url, secret FROM notification_channels WHERE id = :id"),
                {"id": channel["id"]},
            )
        ).one()
    assert url.startswith("gAAAAA")
    assert secret.startswith("gAAAAA")
    listed = await lab.client.get("/notification-channels", headers=lab.admin.headers)
    assert SECRET not in listed.text
    assert channel["path"] not in listed.text


async def test_channel_and_rule_changes_are_audited_without_the_secret(
    lab: Lab, engine: AsyncEngine
) -> None:
    created = await lab.client.post(
        "/notification-channels",
        json={
            "name": unique("pager"),
            "kind": "webhook",
            "url": lab.receiver.url(),
            "secret": SECRET,
        },
        headers=lab.admin.headers,
    )
    assert await audit_trail(engine, created) == [("create", "notification_channel")]
    channel_id = created.json()["id"]
    rule = await lab.client.post(
        "/notification-rules",
        json={"channel_id": channel_id, "event": "ticket.opened", "min_priority": "high"},
        headers=lab.admin.headers,
    )
    assert await audit_trail(engine, rule) == [("create", "notification_rule")]
    changed = await lab.client.patch(
        f"/notification-rules/{rule.json()['id']}",
        json={"min_priority": "critical"},
        headers=lab.admin.headers,
    )
    assert changed.json()["min_priority"] == "critical"
    assert await audit_trail(engine, changed) == [("update", "notification_rule")]
    gone = await lab.client.delete(
        f"/notification-channels/{channel_id}", headers=lab.admin.headers
    )
    assert gone.status_code == 204
    assert await audit_trail(engine, gone) == [("delete", "notification_channel")]
    async with engine.connect() as connection:
        left = await connection.scalar(
            text("SELECT COUNT(*) FROM notification_rules WHERE id = :id"),
            {"id": rule.json()["id"]},
        )
    assert left == 0  # the channel's rules went with it


async def test_only_admins_manage_notifications(
    client: httpx.AsyncClient, operator: Person
) -> None:
    for path in ("/notification-channels", "/notification-rules", "/notification-deliveries"):
        response = await client.get(path, headers=operator.headers)
        assert response.status_code == 403, path
    refused = await client.post(
        "/notification-channels",
        json={"name": unique("c"), "kind": "slack", "url": "https://hooks.example/x"},
        headers=operator.headers,
    )
    assert refused.status_code == 403


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"kind": "webhook", "url": "https://hooks.example/x"}, "needs secret"),
        ({"kind": "slack", "url": "https://hooks.example/x", "secret": SECRET}, "has no secret"),
        ({"kind": "email"}, "needs to"),
        ({"kind": "email", "to": ["a@example.com"], "url": "https://x.example/"}, "has no url"),
        ({"kind": "email", "to": ["not an address"]}, "email"),
    ],
)
async def test_a_channel_has_exactly_what_its_kind_needs(
    lab: Lab, body: dict[str, object], says: str
) -> None:
    response = await lab.client.post(
        "/notification-channels", json={"name": unique("c"), **body}, headers=lab.admin.headers
    )
    assert response.status_code == 422
    assert says in response.text


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/hook",
        "http://192.168.0.1/hook",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
        "ftp://hooks.example/x",
        "file:///etc/passwd",
        "not a url",
    ],
)
async def test_urls_to_private_addresses_or_other_schemes_are_refused(
    client: httpx.AsyncClient, admin: Person, url: str
) -> None:
    """The default: notifications reach public addresses only (no cloud metadata)."""
    response = await client.post(
        "/notification-channels",
        json={"name": unique("c"), "kind": "slack", "url": url},
        headers=admin.headers,
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == ["body", "url"]


async def test_the_address_is_checked_again_when_sending(
    lab: Lab, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    """A channel saved where loopback was allowed is refused by a server that does not
    allow it: the check is on the address each send connects to."""
    channel = await lab.channel("webhook")
    response = await client.post(
        f"/notification-channels/{channel['id']}/test", headers=lab.admin.headers
    )
    assert response.status_code == 200
    result = response.json()
    assert result["ok"] is False
    assert "127.0.0.1" in result["error"]
    assert "refused" in result["error"]
    assert receiver.requests == []


async def test_testing_a_channel_sends_a_signed_message_and_says_how_it_went(
    lab: Lab, engine: AsyncEngine
) -> None:
    channel = await lab.channel("webhook")
    response = await lab.client.post(
        f"/notification-channels/{channel['id']}/test", headers=lab.admin.headers
    )
    assert response.json() | {"duration_ms": 0} == {
        "ok": True,
        "response_status": 200,
        "reply": "ok",
        "error": None,
        "duration_ms": 0,
    }
    [received] = lab.receiver.at(channel["path"])
    assert received.signed_by(SECRET)
    assert received.json["event"] == "test"
    assert await audit_trail(engine, response) == [("test", "notification_channel")]


async def test_testing_an_email_channel_reports_the_smtp_reply(lab: Lab) -> None:
    channel = await lab.channel("email")
    response = await lab.client.post(
        f"/notification-channels/{channel['id']}/test", headers=lab.admin.headers
    )
    result = response.json()
    assert result["ok"] is True, result
    assert result["response_status"] == 250
    assert "queued as test" in result["reply"]
    [mail] = lab.mailbox.to(channel["address"])
    assert "Subject: [opsledger] Test message" in mail


@pytest.mark.parametrize(
    ("event", "filters", "says"),
    [
        ("job.failed", {"min_priority": "high"}, "min_priority filters ticket events only"),
        ("ticket.opened", {"min_severity": "critical"}, "min_severity filters alert events only"),
        ("alert.firing", {"template_id": 1}, "alert events have no template"),
        ("job.exploded", {}, "event"),
    ],
)
async def test_a_rule_filters_only_what_its_event_has(
    lab: Lab, event: str, filters: dict[str, object], says: str
) -> None:
    channel = await lab.channel("slack")
    response = await lab.client.post(
        "/notification-rules",
        json={"channel_id": channel["id"], "event": event, **filters},
        headers=lab.admin.headers,
    )
    assert response.status_code == 422
    assert says in response.text


async def test_a_rule_needs_a_channel_and_template_that_exist(lab: Lab) -> None:
    response = await lab.client.post(
        "/notification-rules",
        json={"channel_id": 2_000_000_000, "event": "job.failed"},
        headers=lab.admin.headers,
    )
    assert response.status_code == 422
    assert "does not exist" in response.text
