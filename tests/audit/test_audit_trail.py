"""The audit trail: one row per change, written with the change or not at all, readable by
admins, and a hash chain that verifies, detects tampering and survives concurrent writers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from opsledger.audit import repository as audit_repository
from opsledger.audit import service as audit
from opsledger.db.base import Base
from opsledger.db.engine import reader
from opsledger.db.session import session_factory
from opsledger.models import AuditLog, Host, Infrastructure, User
from opsledger.security.context import cli_context
from opsledger.users.models import UserRole
from tests.api import (
    ENCRYPTION_KEY,
    PASSWORD,
    Person,
    api_routes,
    api_settings,
    bearer,
    make_person,
)
from tests.audit.chains import append_rows, tamper, verify
from tests.e2e.cli import opsledger
from tests.factories import unique

Call = Callable[[httpx.AsyncClient, dict[str, str]], Awaitable[httpx.Response]]


async def audit_rows(engine: AsyncEngine, request_id: str) -> list[AuditLog]:
    async with AsyncSession(engine) as session:
        statement = select(AuditLog).where(AuditLog.request_id == request_id).order_by(AuditLog.id)
        return list(await session.scalars(statement))


async def traced(
    client: httpx.AsyncClient, person: Person, call: Call
) -> tuple[httpx.Response, str]:
    request_id = uuid.uuid4().hex
    response = await call(client, person.headers | {"X-Request-ID": request_id})
    assert response.status_code < 400, response.text
    assert response.headers["x-request-id"] == request_id
    return response, request_id


async def test_each_change_writes_exactly_one_row_with_its_before_and_after(
    client: httpx.AsyncClient, admin: Person, engine: AsyncEngine
) -> None:
    target = await make_person(engine, UserRole.viewer)
    name = unique("audited")
    key: dict[str, Any] = {}
    secret: dict[str, Any] = {}

    async def create_key(c: httpx.AsyncClient, h: dict[str, str]) -> httpx.Response:
        response = await c.post("/api-keys", json={"name": "x"}, headers=h)
        key.update(response.json())
        return response

    async def create_secret(c: httpx.AsyncClient, h: dict[str, str]) -> httpx.Response:
        body = {"service_name": "s", "key_name": unique("k"), "value": "v"}
        response = await c.post("/secrets", json=body, headers=h)
        secret.update(response.json())
        return response

    steps: list[tuple[Call, str, str]] = [
        (
            lambda c, h: c.post(
                "/users",
                json={"username": name, "email": f"{name}@example.com", "password": "x" * 12},
                headers=h,
            ),
            "create",
            "user",
        ),
        (
            lambda c, h: c.patch(f"/users/{target.id}", json={"role": "operator"}, headers=h),
            "update",
            "user",
        ),
        (
            lambda c, h: c.post(
                f"/users/{target.id}/password", json={"new_password": "y" * 12}, headers=h
            ),
            "password_reset",
            "user",
        ),
        (create_key, "create", "api_key"),
        (lambda c, h: c.delete(f"/api-keys/{key['id']}", headers=h), "revoke", "api_key"),
        (create_secret, "create", "secret"),
        (
            lambda c, h: c.patch(f"/secrets/{secret['id']}", json={"value": "w"}, headers=h),
            "update",
            "secret",
        ),
        (lambda c, h: c.post(f"/secrets/{secret['id']}/reveal", headers=h), "reveal", "secret"),
        (lambda c, h: c.delete(f"/secrets/{secret['id']}", headers=h), "delete", "secret"),
        (lambda c, h: c.post(f"/users/{target.id}/unlock", headers=h), "unlock", "user"),
        # With a token of its own: signing out ends the token it is called with.
        (lambda c, h: c.post("/auth/logout", headers=h | bearer(admin.id)), "logout", "user"),
        (lambda c, h: c.post("/auth/logout-all", headers=h), "logout_all", "user"),
    ]
    for call, action, resource_type in steps:
        _, request_id = await traced(client, admin, call)
        rows = await audit_rows(engine, request_id)
        assert [(r.action, r.resource_type) for r in rows] == [(action, resource_type)]
        assert rows[0].user_name == admin.username
        assert rows[0].user_id == admin.id

    _, role_change = await traced(
        client,
        await make_person(engine, UserRole.admin),
        lambda c, h: c.patch(f"/users/{target.id}", json={"role": "viewer"}, headers=h),
    )
    (row,) = await audit_rows(engine, role_change)
    assert row.before is not None
    assert row.after is not None
    assert (row.before["role"], row.after["role"]) == ("operator", "viewer")
    assert row.before["password_hash"] == row.after["password_hash"] == "********"


# Every route that changes state, and the test that proves it writes its audit row.
AUDITED = {
    # Schedules, freeze windows, triggers and notifications: their audit rows are
    # asserted in tests/schedules, tests/freeze_windows, tests/triggers, tests/notifications.
    ("DELETE", "/api/v1/freeze-windows/{window_id}"),
    ("DELETE", "/api/v1/notification-channels/{channel_id}"),
    ("DELETE", "/api/v1/notification-rules/{rule_id}"),
    ("DELETE", "/api/v1/schedules/{schedule_id}"),
    ("DELETE", "/api/v1/triggers/{trigger_id}"),
    ("PATCH", "/api/v1/freeze-windows/{window_id}"),
    ("PATCH", "/api/v1/notification-channels/{channel_id}"),
    ("PATCH", "/api/v1/notification-rules/{rule_id}"),
    ("PATCH", "/api/v1/schedules/{schedule_id}"),
    ("PATCH", "/api/v1/triggers/{trigger_id}"),
    ("POST", "/api/v1/freeze-windows"),
    ("POST", "/api/v1/hooks/{trigger_id}"),
    ("POST", "/api/v1/notification-channels"),
    ("POST", "/api/v1/notification-channels/{channel_id}/test"),
    ("POST", "/api/v1/notification-deliveries/{delivery_id}/retry"),
    ("POST", "/api/v1/notification-rules"),
    ("POST", "/api/v1/schedules"),
    ("POST", "/api/v1/schedules/{schedule_id}/disable"),
    ("POST", "/api/v1/schedules/{schedule_id}/enable"),
    ("POST", "/api/v1/triggers"),
    ("POST", "/api/v1/triggers/{trigger_id}/rotate"),
    ("POST", "/api/v1/users"),
    ("PATCH", "/api/v1/users/{user_id}"),
    ("POST", "/api/v1/users/{user_id}/password"),
    ("POST", "/api/v1/users/me/password"),
    ("POST", "/api/v1/api-keys"),
    ("DELETE", "/api/v1/api-keys/{key_id}"),
    ("POST", "/api/v1/secrets"),
    ("PATCH", "/api/v1/secrets/{secret_id}"),
    ("DELETE", "/api/v1/secrets/{secret_id}"),
    ("POST", "/api/v1/secrets/{secret_id}/reveal"),
    ("POST", "/api/v1/users/{user_id}/unlock"),
    ("POST", "/api/v1/auth/logout"),
    ("POST", "/api/v1/auth/logout-all"),
    ("POST", "/api/v1/auth/login"),  # the rest: each domain's own tests, via audit_trail()
    ("POST", "/api/v1/host-roles"),
    ("PATCH", "/api/v1/host-roles/{role_id}"),
    ("POST", "/api/v1/hosts"),
    ("PATCH", "/api/v1/hosts/{host_id}"),
    ("DELETE", "/api/v1/hosts/{host_id}"),
    ("POST", "/api/v1/hosts/{host_id}/transition"),
    ("POST", "/api/v1/hosts/{host_id}/provision"),
    ("POST", "/api/v1/hosts/provision"),
    ("POST", "/api/v1/hosts/bulk"),
    ("POST", "/api/v1/hosts/{host_id}/credentials"),
    ("POST", "/api/v1/hosts/{host_id}/credentials/deactivate"),
    ("POST", "/api/v1/hosts/{host_id}/credentials/{credential_id}/rotate"),
    ("POST", "/api/v1/playbooks"),
    ("PATCH", "/api/v1/playbooks/{playbook_id}"),
    ("POST", "/api/v1/infrastructure"),
    ("PATCH", "/api/v1/infrastructure/{infrastructure_id}"),
    ("DELETE", "/api/v1/infrastructure/{infrastructure_id}"),
    ("POST", "/api/v1/applications"),
    ("PATCH", "/api/v1/applications/{application_id}"),
    ("DELETE", "/api/v1/applications/{application_id}"),
    ("POST", "/api/v1/tickets"),
    ("PATCH", "/api/v1/tickets/{ticket_id}"),
    ("POST", "/api/v1/tickets/{ticket_id}/transition"),
    ("POST", "/api/v1/deployments"),
    ("POST", "/api/v1/deployments/{deployment_id}/scale"),
    ("PATCH", "/api/v1/deployments/{deployment_id}/status"),
    ("DELETE", "/api/v1/deployments/{deployment_id}"),
    ("POST", "/api/v1/alerts"),
    ("POST", "/api/v1/alerts/alertmanager"),
    ("POST", "/api/v1/alerts/{alert_id}/acknowledge"),
    ("POST", "/api/v1/alerts/{alert_id}/resolve"),
    ("POST", "/api/v1/jobs"),
    ("POST", "/api/v1/jobs/{job_id}/cancel"),
    ("POST", "/api/v1/job-templates"),
    ("PATCH", "/api/v1/job-templates/{template_id}"),
    ("DELETE", "/api/v1/job-templates/{template_id}"),
    ("POST", "/api/v1/job-templates/{template_id}/launch"),
    ("POST", "/api/v1/runs"),
    ("POST", "/api/v1/runs/{run_id}/cancel"),
    ("POST", "/api/v1/runs/{run_id}/relaunch"),
}


def test_every_route_that_changes_state_has_an_audit_test(app: FastAPI) -> None:
    mutating = {(method, path) for method, path, _ in api_routes(app) if method != "GET"}
    assert mutating == AUDITED


async def test_changing_your_own_password_writes_one_row(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    person = await make_person(engine, UserRole.viewer)
    body = {"current_password": PASSWORD, "new_password": "q" * 12}
    _, request_id = await traced(
        client, person, lambda c, h: c.post("/users/me/password", json=body, headers=h)
    )
    rows = await audit_rows(engine, request_id)
    assert [(r.action, r.resource_id, r.before, r.after) for r in rows] == [
        ("password_change", person.id, None, None)
    ]


async def test_reading_writes_no_audit_row(
    client: httpx.AsyncClient, admin: Person, engine: AsyncEngine
) -> None:
    for url in ("/users", "/api-keys", "/secrets", "/audit", "/users/me"):
        _, request_id = await traced(client, admin, lambda c, h, url=url: c.get(url, headers=h))
        assert await audit_rows(engine, request_id) == []


async def test_a_change_to_what_is_already_there_writes_nothing(
    client: httpx.AsyncClient, admin: Person, engine: AsyncEngine
) -> None:
    target = await make_person(engine, UserRole.viewer)
    url = f"/users/{target.id}"
    before = (await client.get(url, headers=admin.headers)).json()

    same, same_id = await traced(
        client, admin, lambda c, h: c.patch(url, json={"role": "viewer"}, headers=h)
    )
    _, moved_id = await traced(
        client, admin, lambda c, h: c.patch(url, json={"role": "operator"}, headers=h)
    )

    assert same.json() == before  # not even its updated_at moved
    assert await audit_rows(engine, same_id) == []
    assert [row.action for row in await audit_rows(engine, moved_id)] == ["update"]


async def test_a_value_equal_in_python_but_not_in_json_is_a_change(
    client: httpx.AsyncClient, admin: Person, engine: AsyncEngine
) -> None:
    body = {"hostname": unique("typed"), "ip_address": "192.0.2.11", "os_type": "debian",
            "tags": {"weight": 1}}  # fmt: skip
    host = (await client.post("/hosts", json=body, headers=admin.headers)).json()
    url = f"/hosts/{host['id']}"

    changed, request_id = await traced(
        client, admin, lambda c, h: c.patch(url, json={"tags": {"weight": True}}, headers=h)
    )
    stored = (await client.get(url, headers=admin.headers)).json()["tags"]

    assert changed.json()["tags"] == stored == {"weight": True}  # 1 == True, not as JSON
    assert [row.action for row in await audit_rows(engine, request_id)] == ["update"]


async def test_a_failed_audit_write_undoes_the_change(
    client: httpx.AsyncClient, admin: Person, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_append(*_args: object) -> None:
        raise RuntimeError("audit storage unavailable")

    monkeypatch.setattr(audit_repository, "append", broken_append)
    name = unique("ghost")
    response = await client.post(
        "/users",
        json={"username": name, "email": f"{name}@example.com", "password": "z" * 12},
        headers=admin.headers,
    )

    assert response.status_code == 500
    assert "audit storage" not in response.text
    async with engine.connect() as connection:
        assert await connection.scalar(select(User.id).where(User.username == name)) is None


async def test_a_nonsense_request_id_is_replaced(client: httpx.AsyncClient, viewer: Person) -> None:
    response = await client.get(
        "/users/me", headers=viewer.headers | {"X-Request-ID": "a b\x01c" * 30}
    )
    assert len(response.headers["x-request-id"]) == 32


async def test_admins_filter_and_page_the_audit_list(
    client: httpx.AsyncClient, admin: Person, operator: Person, viewer: Person
) -> None:
    for _ in range(3):
        await client.post(
            "/secrets",
            json={"service_name": "p", "key_name": unique("k"), "value": "v"},
            headers=operator.headers,
        )

    first = await client.get(
        "/audit",
        params={"user_id": operator.id, "resource_type": "secret", "limit": 2},
        headers=admin.headers,
    )
    page = first.json()
    rest = await client.get(
        "/audit",
        params={"user_id": operator.id, "resource_type": "secret", "after": page["next_cursor"]},
        headers=admin.headers,
    )

    assert first.status_code == 200
    ids = [row["id"] for row in page["items"]] + [row["id"] for row in rest.json()["items"]]
    assert len(ids) == 3
    assert ids == sorted(ids, reverse=True)
    assert {row["action"] for row in page["items"]} == {"create"}
    assert (await client.get("/audit", headers=viewer.headers)).status_code == 403
    assert (
        await client.get("/audit", params={"since": "yesterday"}, headers=admin.headers)
    ).status_code == 422
    assert (
        await client.get("/audit", params={"since": "2026-01-01T00:00:00"}, headers=admin.headers)
    ).status_code == 422


async def test_rows_appended_during_a_walk_do_not_break_it(
    scratch_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The walk reads the chain's head first and its rows in batches after: rows written
    meanwhile must stay out of it, or it would report the head as not matching."""
    await append_rows(scratch_engine, 5)
    walk = audit_repository.in_order
    appended = []

    async def appending(session: AsyncSession, batch: int = 2) -> AsyncIterator[AuditLog]:
        async for row in walk(session, 2):
            if not appended:
                await append_rows(scratch_engine, 1)
                appended.append(row.id)
            yield row

    monkeypatch.setattr(audit_repository, "in_order", appending)
    result = await verify(scratch_engine)

    assert appended
    assert result.broken is None
    assert result.rows == 5


async def test_the_chain_verifies_and_names_an_edited_row(
    scratch_engine: AsyncEngine, backend: str
) -> None:
    await append_rows(scratch_engine, 5)
    intact = await verify(scratch_engine)
    async with scratch_engine.connect() as connection:
        third = await connection.scalar(
            select(AuditLog.id).order_by(AuditLog.id).offset(2).limit(1)
        )

    await tamper(
        scratch_engine, backend, f"UPDATE audit_logs SET action = 'delete' WHERE id = {third}"
    )
    broken = await verify(scratch_engine)

    assert intact.rows == 5
    assert intact.broken is None
    assert broken.broken is not None
    assert broken.broken.row_id == third
    assert "content" in broken.broken.reason


async def test_removing_the_newest_rows_is_detected(
    scratch_engine: AsyncEngine, backend: str
) -> None:
    await append_rows(scratch_engine, 3)
    async with scratch_engine.connect() as connection:
        newest = await connection.scalar(select(AuditLog.id).order_by(AuditLog.id.desc()).limit(1))
    await tamper(scratch_engine, backend, f"DELETE FROM audit_logs WHERE id = {newest}")

    result = await verify(scratch_engine)

    assert result.broken is not None
    assert "missing" in result.broken.reason


async def test_twenty_concurrent_writers_make_one_unbroken_chain(
    scratch_engine: AsyncEngine,
) -> None:
    await asyncio.gather(*(append_rows(scratch_engine, 1) for _ in range(20)))

    result = await verify(scratch_engine)

    assert result.broken is None
    assert result.rows == 20
    async with scratch_engine.connect() as connection:
        links = (await connection.execute(select(AuditLog.prev_hash))).scalars().all()
    assert len(set(links)) == 20


async def test_audit_verify_command_exits_1_at_the_broken_row(
    scratch_engine: AsyncEngine, backend: str, tmp_path: Any
) -> None:
    await append_rows(scratch_engine, 3)
    url = scratch_engine.url.render_as_string(hide_password=False)
    env = {"database_url": url, "encryption_keys": ENCRYPTION_KEY}
    intact = opsledger("audit", "verify", cwd=tmp_path, **env)
    async with scratch_engine.connect() as connection:
        first = await connection.scalar(select(AuditLog.id).order_by(AuditLog.id).limit(1))
    await tamper(
        scratch_engine, backend, f"UPDATE audit_logs SET user_agent = 'forged' WHERE id = {first}"
    )
    broken = opsledger("audit", "verify", cwd=tmp_path, **env)

    assert intact.returncode == 0, intact.stderr
    assert "3 rows verified" in intact.stdout
    assert broken.returncode == 1
    assert f"row {first}" in broken.stderr


async def test_deleting_a_user_keeps_their_audit_rows(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    person = await make_person(engine, UserRole.viewer)
    login = await client.post(
        "/auth/login", json={"username": person.username, "password": PASSWORD}
    )
    async with engine.begin() as connection:
        await connection.execute(text(f"DELETE FROM users WHERE id = {person.id}"))
    (row,) = await audit_rows(engine, login.headers["x-request-id"])
    assert row.user_id is None
    assert row.user_name == person.username


@pytest.mark.backends("postgresql", "sqlite")
async def test_a_session_without_a_transaction_cannot_write_audit_rows(
    engine: AsyncEngine,
) -> None:
    """Reads on PostgreSQL and SQLite run without BEGIN (``reader``); the chain head's
    lock would end with the statement that took it, so an audit row there is refused, not
    forked."""
    kind = unique("unchained")
    session = session_factory(reader(engine))()
    try:
        audit.record(cli_context(session, api_settings()), "read", kind, None)
        with pytest.raises(RuntimeError, match="use a write session"):
            await session.commit()
    finally:
        await session.close()
    assert await audit_rows_named(engine, kind) == []


async def audit_rows_named(engine: AsyncEngine, resource_type: str) -> list[AuditLog]:
    async with AsyncSession(engine) as session:
        statement = (
            select(AuditLog).where(AuditLog.resource_type == resource_type).order_by(AuditLog.id)
        )
        return list(await session.scalars(statement))


def test_the_columns_a_create_knows_are_null_are_table_columns_nullable_and_unset() -> None:
    """For every model: an attribute mapped to an expression (a column_property) is never
    taken for a NULL column, nor a column with a default of either kind, nor one set."""
    for mapper in Base.registry.mappers:
        table = mapper.local_table
        nulls = audit.inserted_as_null(mapper.class_())
        for name in nulls:
            column = mapper.column_attrs[name].columns[0]
            assert column.table is table, (mapper.class_, name)
            assert column.nullable, (mapper.class_, name)
            assert column.default is None, (mapper.class_, name)
            assert column.server_default is None, (mapper.class_, name)
    assert "has_secrets" not in audit.inserted_as_null(Infrastructure(name="x"))
    assert "description" not in audit.inserted_as_null(Host(description="set"))
    assert "description" in audit.inserted_as_null(Host())
