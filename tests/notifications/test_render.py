"""What each event's messages say: every event renders on every kind, a run's mail lists
its failed hosts, and what an event carries is text in HTML mail and in Slack, never
markup."""

from __future__ import annotations

import pytest

from opsledger.notifications import render
from opsledger.notifications.models import EventName

RUN = {
    "text": "Run 5 failed: site.yml on 3 host(s), failed on web-<1>, db-2",
    "link": "https://ops.example/runs/5",
    "facts": {"playbook": "site.yml", "hosts": 3, "failed_hosts": ["web-<1>", "db-2"]},
    "environments": ["production"],
    "occurred_at": "2026-12-03T07:00:00+00:00",
}


@pytest.mark.parametrize("event", list(EventName))
def test_every_event_renders_even_from_a_payload_that_lacks_its_facts(event: EventName) -> None:
    subject, text, html = render.mail(event, {"text": "something happened"})
    posted = render.slack(event, {"text": "something happened"})
    assert subject == "[opsledger] something happened"
    assert text.startswith("something happened")
    assert "<strong>something happened</strong>" in html
    assert posted["text"] == "something happened"


def test_a_runs_mail_lists_its_failed_hosts_as_text() -> None:
    subject, text, html = render.mail("run.failed", RUN)
    assert subject == f"[opsledger] {RUN['text']}"
    assert "  - web-<1>\n  - db-2\n" in text
    assert text.rstrip().endswith("https://ops.example/runs/5")
    assert "<li>web-&lt;1&gt;</li>" in html
    assert "web-<1>" not in html


def test_slack_shows_the_facts_and_a_button_to_the_console() -> None:
    posted = render.slack("run.failed", RUN)
    fields = posted["blocks"][1]["fields"]
    assert {"type": "mrkdwn", "text": "*failed hosts*\nweb-&lt;1&gt;, db-2"} in fields
    assert posted["blocks"][2]["elements"][0]["url"] == "https://ops.example/runs/5"
