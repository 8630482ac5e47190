"""The console over real HTTP: sign-in with a CSRF-protected form, the session in an
HttpOnly SameSite=Strict cookie, pages refused without it, sign-out that ends only this
session, and no secret value in any page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.audit import service as audit_service
from opsledger.db.session import session_factory, unit_of_work
from opsledger.models import Host, Job, MonitoringAlert, Ticket
from opsledger.web.session import LOGIN_CSRF_COOKIE, SESSION_COOKIE
from opsledger.worker.ingest import LogWriter
from tests import factories as f
from tests.api import PASSWORD, Person, audit_trail
from tests.web.pages import form_token, sign_in

MARKER = "console-secret-marker-7f3a"


async def test_pages_need_a_session_and_sign_in_sets_a_strict_cookie(
    browser: httpx.AsyncClient, viewer: Person
) -> None:
    anonymous = await browser.get("/")
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/login"

    form = await browser.get("/login")
    assert form.status_code == 200
    assert '<label for="username">' in form.text
    offered = form.headers["set-cookie"]
    assert LOGIN_CSRF_COOKIE in offered
    assert "HttpOnly" in offered
    assert "SameSite=strict" in offered

    signed = await sign_in(browser, viewer)
    assert signed.status_code == 303
    assert signed.headers["location"] == "/"
    session_cookie = next(
        value for value in signed.headers.get_list("set-cookie") if value.startswith(SESSION_COOKIE)
    )
    assert "HttpOnly" in session_cookie
    assert "SameSite=strict" in session_cookie

    overview = await browser.get("/")
    assert overview.status_code == 200
    assert "Overview" in overview.text
    assert f'<a href="/account">{viewer.username}</a> (viewer)' in overview.text
    assert "Latest jobs" in overview.text


async def test_forms_without_their_token_are_refused(
    browser: httpx.AsyncClient, viewer: Person
) -> None:
    await browser.get("/login")
    forged = await browser.post(
        "/login", data={"username": viewer.username, "password": PASSWORD, "csrf_token": "x"}
    )
    assert forged.status_code == 403
    assert SESSION_COOKIE not in forged.headers.get("set-cookie", "")

    await sign_in(browser, viewer)
    no_token = await browser.post("/logout", data={})
    assert no_token.status_code == 403
    assert (await browser.get("/")).status_code == 200  # still signed in


async def test_a_wrong_password_is_a_plain_refusal(
    browser: httpx.AsyncClient, viewer: Person
) -> None:
    refused = await sign_in(browser, viewer, password="not the password at all")
    assert refused.status_code == 401
    assert "Wrong username or password." in refused.text
    assert f'value="{viewer.username}"' in refused.text  # typed again: the password only
    assert "not the password at all" not in refused.text
    assert (await browser.get("/")).status_code == 303


async def test_sign_out_ends_this_session_server_side_and_only_it(
    browser: httpx.AsyncClient, client: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    await sign_in(browser, operator)
    token = browser.cookies[SESSION_COOKIE]
    page = await browser.get("/")

    out = await browser.post("/logout", data={"csrf_token": form_token(page.text)})

    assert out.status_code == 303
    assert out.headers["location"] == "/login"
    assert (await browser.get("/")).status_code == 303
    # The token the cookie held is refused wherever it is presented, at once...
    me = await client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 401
    browser.cookies.set(SESSION_COOKIE, token)
    assert (await browser.get("/")).status_code == 303
    # ...while the user's other tokens work on (logout-all ends those).
    assert (await client.get("/users/me", headers=operator.headers)).status_code == 200
    assert ("logout", "user") in await audit_trail(engine, out)


async def test_no_secret_value_reaches_a_page(
    browser: httpx.AsyncClient, client: httpx.AsyncClient, admin: Person, engine: AsyncEngine
) -> None:
    created = await client.post(
        "/secrets",
        json={"service_name": "aws", "key_name": "console", "value": MARKER},
        headers=admin.headers,
    )
    assert created.status_code == 201
    async with unit_of_work(session_factory(engine)) as session:
        host = await f.make_host(session)
        await f.make_credential(session, host, value=MARKER)
        job = await f.make_job(session, host_id=host.id, extra_vars={"note": "visible"})
        deployment = await f.make_deployment(session, user_id=admin.id)
    await sign_in(browser, admin)
    pages = [
        "/", "/login", "/jobs", f"/jobs/{job.id}", "/jobs/new", "/hosts", f"/hosts/{host.id}",
        "/deployments", f"/deployments/{deployment.id}", "/tickets", "/alerts", "/audit",
        "/schedules", "/freeze-windows", "/triggers",
    ]  # fmt: skip
    for path in pages:
        page = await browser.get(path, params={"limit": 500} if path == "/audit" else None)
        assert page.status_code == 200, path
        assert MARKER not in page.text, path


async def make_job_of(engine: AsyncEngine, **fields: object) -> Job:
    async with unit_of_work(session_factory(engine)) as session:
        return await f.make_job(session, **fields)


async def test_a_viewer_sees_no_write_buttons_and_a_forged_cancel_is_refused(
    browser: httpx.AsyncClient, viewer: Person, engine: AsyncEngine
) -> None:
    job = await make_job_of(engine, status="running")
    await sign_in(browser, viewer)

    listing = await browser.get("/jobs", params={"host_id": job.host_id})
    page = await browser.get(f"/jobs/{job.id}")
    forged = await browser.post(
        f"/jobs/{job.id}/cancel", data={"csrf_token": form_token(page.text)}
    )
    launch = await browser.get("/jobs/new")

    assert listing.status_code == 200
    assert f'href="/jobs/{job.id}"' in listing.text
    assert "Launch a job" not in listing.text
    assert page.status_code == 200
    assert "Cancel job" not in page.text
    assert forged.status_code == 403
    assert launch.status_code == 403
    async with unit_of_work(session_factory(engine)) as session:
        assert (await session.get(Job, job.id)).status == "running"  # type: ignore[union-attr]


async def test_a_form_answered_with_an_error_commits_nothing(
    browser: httpx.AsyncClient,
    operator: Person,
    engine: AsyncEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The review's launch committed a job without its audit row: the job was flushed,
    writing the audit row failed with a ValueError, and the form answered 422 while the
    request's unit of work still committed. Any failure after a flush, any form."""
    job = await make_job_of(engine, status="running")
    await sign_in(browser, operator)
    token = form_token((await browser.get("/jobs/new")).text)

    async def audit_fails(*_args: object) -> None:
        raise ValueError("the audit row could not be written")

    monkeypatch.setattr(audit_service, "created", audit_fails)
    fields = {"playbook_id": job.playbook_id, "host_id": job.host_id, "csrf_token": token}
    async with engine.connect() as connection:
        before = await connection.scalar(select(func.count()).select_from(Job))
    refused = await browser.post("/jobs", data=fields | {"extra_vars": "v: 1"})
    async with engine.connect() as connection:
        after = await connection.scalar(select(func.count()).select_from(Job))

    assert refused.status_code == 422
    assert after == before


async def test_an_operator_cancels_and_launches_with_inline_errors(
    browser: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    job = await make_job_of(engine, status="running")
    await sign_in(browser, operator)
    page = await browser.get(f"/jobs/{job.id}")
    assert "Cancel job" in page.text
    token = form_token(page.text)

    cancelled = await browser.post(f"/jobs/{job.id}/cancel", data={"csrf_token": token})
    again = await browser.post(f"/jobs/{job.id}/cancel", data={"csrf_token": token})

    async def launch(extra_vars: str) -> httpx.Response:
        fields = {"playbook_id": job.playbook_id, "host_id": job.host_id, "csrf_token": token}
        return await browser.post("/jobs", data=fields | {"extra_vars": extra_vars})

    bad_yaml = await launch("a: [1,")
    not_a_mapping = await launch("[1, 2]")
    launched = await launch("v: 2\nday: 2024-01-01")

    assert cancelled.status_code == 303
    assert again.status_code == 409
    assert bad_yaml.status_code == 422
    assert "not valid YAML at line" in bad_yaml.text
    assert "a: [1," in bad_yaml.text  # what was typed is kept
    assert not_a_mapping.status_code == 422
    assert "must be a mapping" in not_a_mapping.text
    for text, problem in (
        ("a: &x [1]\nb: *x", "aliases"),
        ("s: !!set {a: null}", "plain values"),
        ("n: .nan", "plain values"),
        ("x: " + "[" * 5000 + "]" * 5000, "nest at most 32 levels"),
    ):
        refused = await launch(text)
        assert refused.status_code == 422, text
        assert problem in refused.text, text
    assert launched.status_code == 303
    new_id = int(launched.headers["location"].rsplit("/", 1)[1])
    async with unit_of_work(session_factory(engine)) as session:
        new = await session.get(Job, new_id)
        assert new is not None
        assert new.extra_vars == {"v": 2, "day": "2024-01-01"}  # dates stay text
        assert new.user_id == operator.id
        assert (await session.get(Job, job.id)).status == "cancelled"  # type: ignore[union-attr]


async def test_the_console_streams_a_jobs_output_with_the_session_cookie(
    browser: httpx.AsyncClient, viewer: Person, engine: AsyncEngine
) -> None:
    job = await make_job_of(engine, status="success")
    writer = LogWriter(engine, job.id, job.created_at)
    await writer.write_many(f"line {n}" for n in range(1, 6))
    await writer.close()

    assert (await browser.get(f"/jobs/{job.id}/events")).status_code == 303
    await sign_in(browser, viewer)
    events = await browser.get(f"/jobs/{job.id}/events", headers={"Last-Event-ID": "2"})

    assert events.headers["content-type"].startswith("text/event-stream")
    assert [int(n) for n in re.findall(r"^id: (\d+)$", events.text, re.M)] == [3, 4, 5]
    assert 'event: end\ndata: {"status":"success"}' in events.text


async def test_the_api_docs_work_offline(browser: httpx.AsyncClient) -> None:
    docs = await browser.get("/docs")
    script = await browser.get("/docs/assets/swagger-ui-bundle.js")

    assert docs.status_code == 200
    assert "/docs/assets/swagger-ui-bundle.js" in docs.text
    assert not re.search(r"""(src|href)=["']https?://""", docs.text)  # nothing from a CDN
    assert script.status_code == 200
    assert "SwaggerUIBundle" in script.text[:200_000]


async def test_tickets_show_their_sla_and_move_only_for_those_allowed(
    browser: httpx.AsyncClient, viewer: Person, operator: Person, engine: AsyncEngine
) -> None:
    async with unit_of_work(session_factory(engine)) as session:
        late = await f.make_ticket(session, due_at=datetime.now(UTC) - timedelta(hours=1))
    await sign_in(browser, viewer)
    seen = await browser.get("/tickets", params={"overdue": "true", "limit": 500})
    forged = await browser.post(
        f"/tickets/{late.id}/status",
        data={"status": "in_progress", "csrf_token": form_token(seen.text)},
    )
    await browser.post("/logout", data={"csrf_token": form_token(seen.text)})
    await sign_in(browser, operator)
    listed = await browser.get("/tickets", params={"limit": 500})
    moved = await browser.post(
        f"/tickets/{late.id}/status",
        data={"status": "in_progress", "csrf_token": form_token(listed.text)},
    )
    wrong_move = await browser.post(
        f"/tickets/{late.id}/status",
        data={"status": "closed", "csrf_token": form_token(listed.text)},
    )

    row = re.search(rf'<tr id="ticket-{late.id}">.*?</tr>', seen.text, re.S)
    assert row is not None
    assert "overdue" in row.group(0)
    assert "Move ticket" not in seen.text
    assert forged.status_code == 403
    assert f"Move ticket {late.id} to in_progress" in listed.text
    assert moved.status_code == 303
    assert wrong_move.status_code == 409
    async with unit_of_work(session_factory(engine)) as session:
        assert (await session.get(Ticket, late.id)).status == "in_progress"  # type: ignore[union-attr]


async def test_hosts_show_metadata_never_values_and_provision_for_operators(
    browser: httpx.AsyncClient, admin: Person, viewer: Person, engine: AsyncEngine
) -> None:
    async with unit_of_work(session_factory(engine)) as session:
        playbook = await f.make_playbook(session)
        role = await f.make_role(session, default_playbook_id=playbook.id)
        host = await f.make_host(session, host_role_id=role.id)
        await f.make_credential(session, host, value=MARKER, username="deploy")

    await sign_in(browser, viewer)
    as_viewer = await browser.get(f"/hosts/{host.id}")
    forged = await browser.post(
        f"/hosts/{host.id}/provision", data={"csrf_token": form_token(as_viewer.text)}
    )
    await browser.post("/logout", data={"csrf_token": form_token(as_viewer.text)})
    await sign_in(browser, admin)
    listed = await browser.get("/hosts", params={"hostname": host.hostname})
    as_admin = await browser.get(f"/hosts/{host.id}")
    provisioned = await browser.post(
        f"/hosts/{host.id}/provision", data={"csrf_token": form_token(as_admin.text)}
    )

    assert as_viewer.status_code == 200
    assert "Provision" not in as_viewer.text
    assert "Credentials" not in as_viewer.text
    assert forged.status_code == 403
    assert f'href="/hosts/{host.id}"' in listed.text
    assert "Provision" in as_admin.text
    assert "deploy" in as_admin.text
    assert MARKER not in as_admin.text
    assert provisioned.status_code == 303
    assert provisioned.headers["location"].startswith("/jobs/")
    async with unit_of_work(session_factory(engine)) as session:
        assert (await session.get(Host, host.id)).status == "provisioning"  # type: ignore[union-attr]


async def test_a_bad_list_filter_is_shown_by_its_field_name(
    browser: httpx.AsyncClient, viewer: Person
) -> None:
    await sign_in(browser, viewer)
    page = await browser.get("/hosts", params={"ip_address": "not-an-address"})
    assert page.status_code == 422
    assert "<li>ip_address: Input is not a valid" in page.text
    assert "lax-or-strict" not in page.text
    repeated = await browser.get("/runs?status=failed&status=success")
    assert repeated.status_code == 422
    assert "<li>status: given more than once" in repeated.text


async def test_alerts_are_acknowledged_and_resolved_by_operators(
    browser: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    async with unit_of_work(session_factory(engine)) as session:
        alert = await f.make_alert(session)
    await sign_in(browser, operator)
    page = await browser.get("/alerts", params={"status": "firing", "limit": 500})
    token = form_token(page.text)

    acknowledged = await browser.post(f"/alerts/{alert.id}/acknowledge", data={"csrf_token": token})
    twice = await browser.post(f"/alerts/{alert.id}/acknowledge", data={"csrf_token": token})
    resolved = await browser.post(f"/alerts/{alert.id}/resolve", data={"csrf_token": token})

    assert f"Acknowledge alert {alert.id}" in page.text
    assert acknowledged.status_code == 303
    assert twice.status_code == 409
    assert resolved.status_code == 303
    async with unit_of_work(session_factory(engine)) as session:
        assert (await session.get(MonitoringAlert, alert.id)).status == "resolved"  # type: ignore[union-attr]


async def test_the_audit_page_is_for_admins_and_shows_what_changed(
    browser: httpx.AsyncClient, client: httpx.AsyncClient, admin: Person, operator: Person
) -> None:
    created = await client.post(
        "/hosts",
        json={"hostname": "audited.example.com", "ip_address": "192.0.2.44", "os_type": "linux"},
        headers=operator.headers,
    )
    host_id = created.json()["id"]
    await client.patch(
        f"/hosts/{host_id}", json={"environment": "staging"}, headers=operator.headers
    )
    await sign_in(browser, operator)
    refused = await browser.get("/audit")
    assert refused.status_code == 403
    page = await browser.get("/")
    await browser.post("/logout", data={"csrf_token": form_token(page.text)})
    await sign_in(browser, admin)

    trail = await browser.get("/audit", params={"resource_type": "host", "resource_id": host_id})

    assert trail.status_code == 200
    assert 'class="diff"' in trail.text
    assert '<td class="new">staging</td>' in trail.text
    assert "audited.example.com" in trail.text
    bad = await browser.get("/audit", params={"resource_id": "not-a-number"})
    assert bad.status_code == 422
    assert "resource_id" in bad.text


async def test_deployments_show_to_their_owner_and_admins_only(
    browser: httpx.AsyncClient, operator: Person, viewer: Person, engine: AsyncEngine
) -> None:
    async with unit_of_work(session_factory(engine)) as session:
        deployment = await f.make_deployment(session, user_id=operator.id)
        await f.make_resources(session, deployment, cpu_cores=2.5)
        await f.make_replica(session, deployment)
    await sign_in(browser, operator)
    own = await browser.get(f"/deployments/{deployment.id}")
    listed = await browser.get("/deployments", params={"name": deployment.name})
    await browser.post("/logout", data={"csrf_token": form_token(own.text)})
    await sign_in(browser, viewer)
    other = await browser.get(f"/deployments/{deployment.id}")

    assert own.status_code == 200
    assert "2.5 CPU" in own.text
    assert "Replicas" in own.text
    assert f'href="/deployments/{deployment.id}"' in listed.text
    assert other.status_code == 404
