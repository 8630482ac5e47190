"""A console form refused for one bad value answers the form again (422, or 409 for a name
taken) with the message, every value typed in it still there (an edit form shows what was
typed, not what is stored), a secret typed never shown back, and nothing written: no
audit row for the request."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from opsledger.db.session import session_factory, unit_of_work
from tests import factories as f
from tests.api import Person, audit_trail
from tests.factories import unique
from tests.web.pages import form_token, sign_in

# Typed with what HTML must escape, to show it comes back as typed and not as markup.
MARKUP = 'the "web" tier <b>&</b>'


@dataclass(frozen=True)
class Refusal:
    """One post of a form with one bad value."""

    path: str
    typed: dict[str, str]  # the form shows each again, as typed
    says: str  # part of the message refusing it
    status: int = 422
    # Sent too, not checked: a choice from a list of the first few hundred, which a full
    # test database may not reach.
    picked: dict[str, str] = field(default_factory=dict)
    secret: dict[str, str] = field(default_factory=dict)  # sent too, never shown back
    stored: tuple[str, ...] = ()  # what an edited row holds, not shown by the refused form


class FormValues(HTMLParser):
    """What the form posting to ``action`` holds: each input's value, each text area's
    text and each list's chosen option, by field name, as a browser would send them."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action = action
        self.inside = False
        self.open: tuple[str, str] | None = None  # (tag, name) of the area or list read
        self.values: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.inside = found.get("action") == self.action
        elif not self.inside:
            return
        elif tag == "input" and "name" in found:
            self.values[found["name"]] = found.get("value", "")
        elif tag in ("textarea", "select") and "name" in found:
            self.open = (tag, found["name"])
            self.values[found["name"]] = ""
        elif tag == "option" and self.open and "selected" in found:
            self.values[self.open[1]] = found.get("value", "")

    def handle_data(self, data: str) -> None:
        if self.inside and self.open and self.open[0] == "textarea":
            self.values[self.open[1]] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag in ("textarea", "select"):
            self.open = None


def form_values(page: str, action: str) -> dict[str, str]:
    parser = FormValues(action)
    parser.feed(page)
    return parser.values


async def template_edit(session: AsyncSession) -> Refusal:
    template = await f.make_template(session)
    return Refusal(
        f"/templates/{template.id}",
        {"name": unique("nightly"), "description": MARKUP, "environment": "staging",
         "tags": "rack=r7\ntier=web", "extra_vars": "release: 2.4", "forks": "99"},
        "less than or equal to 50",
        picked={"playbook_id": str(template.playbook_id)},
        stored=(template.name,),
    )  # fmt: skip


async def host_edit(session: AsyncSession) -> Refusal:
    host = await f.make_host(session, environment="production")
    return Refusal(
        f"/hosts/{host.id}/edit",
        {"hostname": unique("web"), "ip_address": "192.0.2.77", "os_type": "ubuntu",
         "os_version": "24.04", "ssh_port": "70000", "ssh_user": "deploy",
         "environment": "staging", "tags": "rack=r9", "description": MARKUP},
        "less than or equal to 65535",
        stored=(host.hostname, host.ip_address, "production"),
    )  # fmt: skip


async def role_edit(session: AsyncSession) -> Refusal:
    role = await f.make_role(session, description="the stored one")
    return Refusal(
        f"/host-roles/{role.id}",
        {"name": unique("db"), "description": MARKUP, "variables": "- a list"},
        "variables must be a mapping",
        stored=(role.name, "the stored one"),
    )


async def infrastructure_edit(session: AsyncSession) -> Refusal:
    entry = await f.make_infrastructure(session, region="fsn1", secret_config="{}")
    return Refusal(
        f"/infrastructure/{entry.id}",
        {"name": unique("eu"), "provider": "hetzner", "region": "nbg1",
         "description": MARKUP, "config": "network: [10.0.0.0/16"},
        "not valid YAML",
        secret={"secrets": f"api_token: {unique('sk')}"},
        stored=(entry.name, "aws", "fsn1"),
    )  # fmt: skip


async def application_edit(session: AsyncSession) -> Refusal:
    entry = await f.make_application(session, repo_url="https://git.example.com/a.git")
    return Refusal(
        f"/applications/{entry.id}",
        {"name": unique("shop"), "repo_url": "not a url", "description": MARKUP,
         "config": "team: web"},
        "should match pattern",
        stored=(entry.name, "https://git.example.com/a.git"),
    )  # fmt: skip


async def application_new(session: AsyncSession) -> Refusal:
    return Refusal(
        "/applications",
        {"name": unique("shop"), "repo_url": "https://git.example.com/shop.git",
         "description": MARKUP, "config": "- a list"},
        "config must be a mapping",
    )  # fmt: skip


async def user_new(session: AsyncSession) -> Refusal:
    return Refusal(
        "/users",
        {"username": unique("ann"), "email": "not-an-email", "role": "operator"},
        "not a valid email address",
    )


async def user_taken(session: AsyncSession) -> Refusal:
    taken = await f.make_user(session)
    return Refusal(
        "/users",
        {"username": taken.username, "email": f"{unique('bo')}@example.com", "role": "operator"},
        "already exists",
        status=409,
    )


async def secret_new(session: AsyncSession) -> Refusal:
    marker = unique("s3cret")
    return Refusal(
        "/secrets",
        {"service_name": unique("aws"), "key_name": unique("key")},
        "at most 65536",
        secret={"value": marker * (70_000 // len(marker))},
    )


async def channel_new(session: AsyncSession) -> Refusal:
    return Refusal(
        "/notifications",
        {"name": unique("ops"), "kind": "webhook", "to": ""},
        "only http and https URLs",
        secret={"url": f"ftp://hooks.example/{unique('token')}"},
    )


async def rule_new(session: AsyncSession) -> Refusal:
    channel = await f.make_channel(session)
    return Refusal(
        f"/notifications/channels/{channel.id}/rules",
        {"event": "job.failed", "environment": unique("staging"), "template_id": "abc"},
        "valid integer",
    )


async def api_key_new(session: AsyncSession) -> Refusal:
    return Refusal(
        "/account/api-keys",
        {"name": unique("ci"), "expires_at": "", "scopes": "hosts:read, hosts:fly"},
        "subset of your role",
    )


async def role_new(session: AsyncSession) -> Refusal:
    return Refusal(
        "/host-roles",
        {"name": unique("db"), "description": MARKUP, "variables": "port: [5432"},
        "not valid YAML",
    )


async def infrastructure_new(session: AsyncSession) -> Refusal:
    return Refusal(
        "/infrastructure",
        {"name": unique("eu"), "provider": "hetzner", "region": "fsn1",
         "description": MARKUP, "config": "- a list"},
        "config must be a mapping",
        secret={"secrets": f"api_token: {unique('sk')}"},
    )  # fmt: skip


async def schedule_new(session: AsyncSession) -> Refusal:
    template = await f.make_template(session)
    return Refusal(
        f"/templates/{template.id}/schedule",
        {"name": unique("nightly"), "cron": "61 * * * *", "timezone": "Europe/Berlin",
         "extra_vars": "release: 2.4"},
        "is not a cron expression",
    )  # fmt: skip


async def credential_new(session: AsyncSession) -> Refusal:
    host = await f.make_host(session)
    return Refusal(
        f"/hosts/{host.id}/credentials",
        {"type": "password", "username": unique("deploy")},
        "at most 65536",
        secret={"value": "k" * 70_000},
    )


async def deployment_scale(session: AsyncSession) -> Refusal:
    deployment = await f.make_deployment(session, target_replicas=3)
    return Refusal(
        f"/deployments/{deployment.id}/scale",
        {"target_replicas": "a dozen"},
        "valid integer",
        stored=("3",),
    )


async def deployment_move(session: AsyncSession) -> Refusal:
    deployment = await f.make_deployment(session)  # pending: it cannot run before it is scheduled
    return Refusal(
        f"/deployments/{deployment.id}/move",
        {"reason": MARKUP},
        "allowed only from",
        status=409,
        picked={"status": "running"},
    )


async def deleted_deployment_scale(session: AsyncSession) -> Refusal:
    deployment = await f.make_deployment(session, status="deleted", deleted_at=datetime.now(UTC))
    return Refusal(f"/deployments/{deployment.id}/scale", {}, "is deleted", status=409,
                   picked={"target_replicas": "5"})  # fmt: skip


CASES: list[Callable[[AsyncSession], Awaitable[Refusal]]] = [
    template_edit,
    host_edit,
    role_edit,
    infrastructure_edit,
    application_edit,
    application_new,
    user_new,
    user_taken,
    secret_new,
    channel_new,
    rule_new,
    api_key_new,
    role_new,
    infrastructure_new,
    schedule_new,
    credential_new,
    deployment_scale,
    deployment_move,
    deleted_deployment_scale,
]


@pytest.mark.parametrize("case", CASES, ids=[case.__name__ for case in CASES])
async def test_a_refused_form_comes_back_as_typed_and_changes_nothing(
    case: Callable[[AsyncSession], Awaitable[Refusal]],
    browser: httpx.AsyncClient,
    admin: Person,
    engine: AsyncEngine,
) -> None:
    async with unit_of_work(session_factory(engine)) as session:
        refusal = await case(session)
    await sign_in(browser, admin)
    token = form_token((await browser.get("/account")).text)
    sent = refusal.typed | refusal.picked | refusal.secret | {"csrf_token": token}

    response = await browser.post(refusal.path, data=sent)
    shown = form_values(response.text, refusal.path)

    assert response.status_code == refusal.status, response.text
    assert refusal.says in response.text
    assert {name: shown.get(name) for name in refusal.typed} == refusal.typed
    assert [value for value in refusal.stored if value in shown.values()] == []
    # Not even the start of a secret (a long one could come back cut short).
    assert [name for name, value in refusal.secret.items() if value[:30] in response.text] == []
    assert await audit_trail(engine, response) == []
