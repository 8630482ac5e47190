"""Managing users over the API: hashes stay inside, rules hold, nothing extra is writable."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.models import User
from opsledger.users.models import UserRole
from tests.api import PASSWORD, Person, audit_trail, build_app, client_for, make_person
from tests.factories import unique

GOOD_PASSWORD = "a perfectly long passphrase"


def new_user(**fields: object) -> dict[str, object]:
    name = unique("new")
    return {
        "username": name,
        "email": f"{name.upper()}@Example.COM",
        "password": GOOD_PASSWORD,
    } | fields


async def stored_user(engine: AsyncEngine, username: str) -> User | None:
    async with engine.connect() as connection:
        row = (await connection.execute(select(User).where(User.username == username))).first()
    return None if row is None else User(**row._mapping)


async def test_creating_a_user_hashes_the_password_and_never_returns_it(
    client: httpx.AsyncClient, admin: Person, engine: AsyncEngine
) -> None:
    body = new_user(role="operator")
    response = await client.post("/users", json=body, headers=admin.headers)

    assert response.status_code == 201
    created = response.json()
    assert created["email"] == str(body["email"]).lower()
    assert created["role"] == "operator"
    assert "password" not in response.text
    assert "$2b$" not in response.text
    stored = await stored_user(engine, str(body["username"]))
    assert stored is not None
    assert stored.password_hash.startswith("$2b$12$")
    listing = await client.get("/users", headers=admin.headers, params={"limit": 500})
    assert "$2b$" not in listing.text
    assert "password_hash" not in listing.text


@pytest.mark.parametrize(
    ("password", "reason"),
    [("short", "at least 12"), ("é" * 37, "72 bytes")],
    ids=["too-short", "over-72-bytes"],
)
async def test_passwords_outside_the_rules_are_422(
    client: httpx.AsyncClient, admin: Person, engine: AsyncEngine, password: str, reason: str
) -> None:
    body = new_user(password=password)
    response = await client.post("/users", json=body, headers=admin.headers)
    assert response.status_code == 422
    assert reason in response.json()["detail"]
    assert password not in response.text
    assert await stored_user(engine, str(body["username"])) is None


async def test_a_username_is_created_in_its_canonical_form_only(
    client: httpx.AsyncClient, admin: Person, operator: Person
) -> None:
    async def create(username: str) -> int:
        response = await client.post(
            "/users", json=new_user(username=username), headers=admin.headers
        )
        return response.status_code

    assert await create(operator.username) == 409
    for spelling in (
        operator.username.upper(),
        operator.username + " ",
        "v\u00edctim",
        "\u2174ictim",
    ):
        assert await create(spelling) == 422, spelling


@pytest.mark.parametrize(
    "extra",
    [{"role": "admin"}, {"id": 1}, {"password_hash": "$2b$12$forged"}, {"is_active": True}],
    ids=lambda extra: next(iter(extra)),
)
async def test_a_viewer_cannot_smuggle_fields_into_their_password_change(
    client: httpx.AsyncClient, viewer: Person, engine: AsyncEngine, extra: dict[str, object]
) -> None:
    body = {"current_password": PASSWORD, "new_password": GOOD_PASSWORD} | extra
    response = await client.post("/users/me/password", json=body, headers=viewer.headers)

    assert response.status_code == 422
    stored = await stored_user(engine, viewer.username)
    assert stored is not None
    assert stored.role is UserRole.viewer
    assert stored.token_version == 0


async def test_an_admin_cannot_write_a_hash_directly(
    client: httpx.AsyncClient, admin: Person, viewer: Person
) -> None:
    response = await client.patch(
        f"/users/{viewer.id}", json={"password_hash": "$2b$12$forged"}, headers=admin.headers
    )
    assert response.status_code == 422


async def test_deactivating_a_user_ends_their_tokens_keys_and_logins(
    client: httpx.AsyncClient, admin: Person, engine: AsyncEngine
) -> None:
    person = await make_person(engine, UserRole.operator)
    created = await client.post("/api-keys", json={"name": "ci"}, headers=person.headers)
    key_headers = {"X-API-Key": created.json()["key"]}
    assert (await client.get("/users/me", headers=key_headers)).status_code == 200

    response = await client.patch(
        f"/users/{person.id}", json={"is_active": False}, headers=admin.headers
    )

    assert response.status_code == 200
    assert response.json()["is_active"] is False
    assert (await client.get("/users/me", headers=person.headers)).status_code == 401
    assert (await client.get("/users/me", headers=key_headers)).status_code == 401
    signed_in = await client.post(
        "/auth/login", json={"username": person.username, "password": PASSWORD}
    )
    assert signed_in.status_code == 401


async def test_changing_your_password_revokes_your_tokens(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    person = await make_person(engine, UserRole.viewer)
    body = {"current_password": PASSWORD, "new_password": GOOD_PASSWORD}
    wrong = {"current_password": "not it at all", "new_password": GOOD_PASSWORD}

    refused = await client.post("/users/me/password", json=wrong, headers=person.headers)
    assert refused.status_code == 422
    assert refused.json()["detail"] == "the current password is not correct"
    assert await audit_trail(engine, refused) == [("password_confirm_failed", "user")]
    assert (
        await client.post("/users/me/password", json=body, headers=person.headers)
    ).status_code == 204
    assert (await client.get("/users/me", headers=person.headers)).status_code == 401
    login = await client.post(
        "/auth/login", json={"username": person.username, "password": GOOD_PASSWORD}
    )
    assert login.status_code == 200


async def test_the_last_active_admin_cannot_be_demoted_or_deactivated(
    scratch_engine: AsyncEngine,
) -> None:
    only_admin = await make_person(scratch_engine, UserRole.admin)
    async for client in client_for(build_app(scratch_engine)):
        url = f"/users/{only_admin.id}"
        demoted = await client.patch(url, json={"role": "viewer"}, headers=only_admin.headers)
        deactivated = await client.patch(url, json={"is_active": False}, headers=only_admin.headers)
        second = await make_person(scratch_engine, UserRole.admin)
        after_second = await client.patch(url, json={"role": "operator"}, headers=second.headers)

    assert demoted.status_code == 409
    assert deactivated.status_code == 409
    assert after_second.status_code == 200
    async with scratch_engine.connect() as connection:
        admins = await connection.scalar(
            select(func.count()).where(User.role == UserRole.admin, User.is_active)
        )
    assert admins == 1


async def test_logout_ends_only_the_token_it_came_with(
    client: httpx.AsyncClient, operator: Person
) -> None:
    login = await client.post(
        "/auth/login", json={"username": operator.username, "password": PASSWORD}
    )
    token = {"Authorization": f"Bearer {login.json()['access_token']}"}
    key = await client.post("/api-keys", json={"name": "k"}, headers=operator.headers)

    out = await client.post("/auth/logout", headers=token)
    again = await client.post("/auth/logout", headers=token)
    by_key = await client.post("/auth/logout", headers={"X-API-Key": key.json()["key"]})

    assert out.status_code == 204
    assert again.status_code == 401
    assert (await client.get("/users/me", headers=token)).status_code == 401
    assert (await client.get("/users/me", headers=operator.headers)).status_code == 200
    assert by_key.status_code == 422
    assert "DELETE /api/v1/api-keys" in by_key.json()["detail"]


async def test_two_admins_demoting_each_other_at_once_leave_one(
    scratch_engine: AsyncEngine,
) -> None:
    """On PostgreSQL both used to get 200, leaving no admin: each counted two admins
    before the other committed. Raced ten times over."""
    first = await make_person(scratch_engine, UserRole.admin)
    second = await make_person(scratch_engine, UserRole.admin)
    outcomes = []
    async for client in client_for(build_app(scratch_engine)):
        for _ in range(10):
            demotions = await asyncio.gather(
                client.patch(f"/users/{second.id}", json={"role": "viewer"}, headers=first.headers),
                client.patch(f"/users/{first.id}", json={"role": "viewer"}, headers=second.headers),
            )
            outcomes.append(sorted(response.status_code for response in demotions))
            async with scratch_engine.begin() as connection:  # both admins again
                await connection.execute(update(User).values(role=UserRole.admin))

    # The loser either saw the winner's change (409) or was no longer an admin (403).
    assert all(codes in ([200, 403], [200, 409]) for codes in outcomes), outcomes


async def test_users_page_with_a_cursor(
    client: httpx.AsyncClient, admin: Person, engine: AsyncEngine
) -> None:
    for _ in range(3):
        await make_person(engine, UserRole.viewer)
    first = (await client.get("/users", params={"limit": 2}, headers=admin.headers)).json()
    second = (
        await client.get(
            "/users", params={"limit": 2, "after": first["next_cursor"]}, headers=admin.headers
        )
    ).json()

    assert len(first["items"]) == 2
    assert first["next_cursor"] == first["items"][-1]["id"]
    assert second["items"][0]["id"] > first["items"][-1]["id"]
    too_many = await client.get("/users", params={"limit": 501}, headers=admin.headers)
    assert too_many.status_code == 422


async def test_an_unknown_user_is_404(client: httpx.AsyncClient, admin: Person) -> None:
    assert (await client.get("/users/99999999", headers=admin.headers)).status_code == 404


async def test_wrong_passwords_typed_again_are_limited_apart_from_sign_ins(
    engine: AsyncEngine,
) -> None:
    """A stolen token cannot guess its user's password through the password change any
    faster than at the sign-in form; a stranger failing sign-ins in the user's name does
    not keep the user from changing it (a server of its own: fresh limits)."""
    guessed = await make_person(engine, UserRole.viewer)
    locked_out = await make_person(engine, UserRole.viewer)
    wrong = {"current_password": "not it at all", "new_password": GOOD_PASSWORD}
    right = {"current_password": PASSWORD, "new_password": GOOD_PASSWORD}
    async for client in client_for(build_app(engine)):
        refused = [
            (await client.post("/users/me/password", json=wrong, headers=guessed.headers))
            for _ in range(5)
        ]
        throttled = await client.post("/users/me/password", json=right, headers=guessed.headers)
        signing_in = await client.post(
            "/auth/login", json={"username": guessed.username, "password": PASSWORD}
        )
        for _ in range(5):
            failed = {"username": locked_out.username, "password": "a stranger's guess"}
            await client.post("/auth/login", json=failed)
        changed = await client.post("/users/me/password", json=right, headers=locked_out.headers)

    assert [r.status_code for r in refused] == [422] * 5
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) > 0
    assert signing_in.status_code == 200  # its own count: the sign-in form is not the one guessed
    assert changed.status_code == 204
