"""What a delivery says on each channel kind, from its payload. Mail comes from plain
Jinja2 templates in ``templates/``: the first of ``<event>.<part>`` (``run.failed.html``),
``<kind of event>.<part>`` (``run.html``) and ``default.<part>``, where the part is
``subject.txt``, ``txt`` or ``html`` (autoescaped: an alert's title is text, never
markup). Slack's message is its blocks, built here, with the text as their fallback."""

from __future__ import annotations

import json
from typing import Any

from jinja2 import ChainableUndefined, Environment, PackageLoader, select_autoescape

# Slack caps a section's text at 3,000 characters and a section at 10 fields.
SLACK_TEXT = 3000
SLACK_FIELDS = 10


def shown(value: object) -> str:
    """A fact as a line shows it."""
    if isinstance(value, list):
        return ", ".join(str(each) for each in value) or "-"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return "-" if value is None else str(value)


environment = Environment(
    loader=PackageLoader("opsledger.notifications", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",), default=False),
    undefined=ChainableUndefined,  # a fact an old delivery lacks shows as nothing
    trim_blocks=True,
    lstrip_blocks=True,
)
environment.filters["shown"] = shown


def context(event: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "event": event,
        "text": str(payload.get("text") or event),
        "link": payload.get("link"),
        "facts": dict(payload.get("facts") or {}),
        "environments": list(payload.get("environments") or []),
        "occurred_at": payload.get("occurred_at") or "",
    }


def mail(event: str, payload: dict[str, Any]) -> tuple[str, str, str]:
    """(subject, plain text, HTML) of a delivery's mail."""
    values = context(event, payload)
    kind = event.split(".")[0]

    def part(name: str) -> str:
        names = [f"{event}.{name}", f"{kind}.{name}", f"default.{name}"]
        return environment.select_template(names).render(values)

    subject = " ".join(part("subject.txt").split())[:250]
    return subject, part("txt"), part("html")


def _mrkdwn(text: str) -> str:
    """Text as Slack shows it literally: its three control characters escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack(event: str, payload: dict[str, Any]) -> dict[str, Any]:
    """A Slack-compatible incoming-webhook message: ``text`` (what notifications, and
    Mattermost or Rocket.Chat, show) and ``blocks`` (what Slack shows)."""
    values = context(event, payload)
    text, link = _mrkdwn(values["text"]), values["link"]
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{text}*"[:SLACK_TEXT]}}
    ]
    facts = [
        {"type": "mrkdwn", "text": f"*{name.replace('_', ' ')}*\n{_mrkdwn(shown(value))}"[:2000]}
        for name, value in values["facts"].items()
    ][:SLACK_FIELDS]
    if facts:
        blocks.append({"type": "section", "fields": facts})
    if link:
        button = {"type": "plain_text", "text": "Open in opsledger"}
        blocks.append(
            {"type": "actions", "elements": [{"type": "button", "text": button, "url": link}]}
        )
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": event}]})
    fallback = text if link is None else f"{text} <{link}|open>"
    return {"text": fallback, "blocks": blocks}
