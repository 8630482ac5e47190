"""Talking to the real ASGI app over HTTP, as users of each role."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Any

import bcrypt
import httpx
from cryptography.fernet import Fernet
from fastapi import FastAPI, routing
from fastapi.routing import APIRoute
from pydantic import SecretStr
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.app import create_app
from opsledger.config import Settings
from opsledger.db.session import session_factory, unit_of_work
from opsledger.kit.routers import API_PREFIX
from opsledger.models import AuditLog
from opsledger.security import tokens
from opsledger.users.models import User, UserRole
from tests.factories import unique

JWT_SECRET = "test-jwt-secret-" + "x" * 64
# The session's field-encryption key; processes a test starts (workers, the CLI) get it too.
ENCRYPTION_KEY = Fernet.generate_key().decode()
PASSWORD = "correct horse battery staple"


def api_settings(**overrides: object) -> Settings:
    fields: dict[str, object] = {"jwt_secret": SecretStr(JWT_SECRET), **overrides}
    return Settings.model_validate(fields)


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    """The app's OpenAPI document, made once per process (it takes FastAPI seconds)."""
    return create_app(Settings(database_url="sqlite+aiosqlite://")).openapi()


@lru_cache(maxsize=1)
def password_hash() -> str:
    """One real bcrypt hash (cost 12) of PASSWORD, shared by every test user."""
    return bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(12)).decode()


@dataclass(frozen=True)
class Person:
    id: int
    username: str
    role: UserRole
    headers: dict[str, str]


def bearer(user_id: int, version: int = 0) -> dict[str, str]:
    token = tokens.issue(user_id, version, JWT_SECRET, timedelta(minutes=5))
    return {"Authorization": f"Bearer {token}"}


async def make_person(engine: AsyncEngine, role: UserRole, **fields: object) -> Person:
    """A committed user with a real password hash and a valid token."""
    name = unique(str(role))
    async with unit_of_work(session_factory(engine)) as session:
        user = User(
            **{"username": name, "email": f"{name}@example.com", "password_hash": password_hash()}
            | fields,
            role=role,
        )
        session.add(user)
        await session.flush()
        user_id = user.id
    return Person(user_id, name, role, bearer(user_id))


async def client_for(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://opsledger.test/api/v1"
    ) as client:
        yield client


def build_app(engine: AsyncEngine, **settings: object) -> FastAPI:
    return create_app(api_settings(**settings), engine=engine)


def api_routes(app: FastAPI) -> list[tuple[str, str, Any]]:
    """(method, path, route) for every API operation. FastAPI >= 0.16x keeps included
    routers lazily; ``iter_route_contexts`` flattens them (older versions list them)."""
    flatten = getattr(routing, "iter_route_contexts", lambda routes: routes)
    return [
        (method, route.path, route)
        for route in flatten(app.routes)
        if isinstance(getattr(route, "original_route", route), APIRoute)
        and route.path.startswith(API_PREFIX)
        for method in sorted(route.methods)
    ]


@contextmanager
def counting(engine: AsyncEngine) -> Iterator[list[str]]:
    """The SQL statements sent through ``engine`` while the block runs."""
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)


async def audit_trail(engine: AsyncEngine, response: httpx.Response) -> list[tuple[str, str]]:
    """(action, resource_type) of the audit rows the request behind ``response`` wrote."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(AuditLog.action, AuditLog.resource_type)
            .where(AuditLog.request_id == response.headers["x-request-id"])
            .order_by(AuditLog.id)
        )
        return [(action, resource_type) for action, resource_type in rows]
