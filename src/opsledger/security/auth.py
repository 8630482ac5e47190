"""Authentication and authorization dependencies: who is calling, and may they do this.

A caller presents a JWT or an API key as ``Authorization: Bearer …``, or an API key as
``X-API-Key``. Lookups read the primary (never a lagging replica: a revoked key must stop
working at once) without taking SQLite's write lock.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.api_keys import repository as api_key_repository
from opsledger.config import Settings
from opsledger.db.dependencies import (
    Database,
    PrimaryReadSession,
    ReadSession,
    SnapshotSession,
    WriteSession,
    database_of,
)
from opsledger.db.session import unit_of_work
from opsledger.kit.errors import Forbidden, Unauthorized
from opsledger.security import api_keys, tokens
from opsledger.security.context import Actor, AuthMethod, Ctx, RequestInfo
from opsledger.security.policy import allows
from opsledger.users import repository as user_repository

bearer = HTTPBearer(auto_error=False, description="A JWT from /auth/login, or an API key")
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)

NOT_AUTHENTICATED = "authentication required: a bearer token or an API key"
REJECTED = "the credentials are invalid, expired or revoked"


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def request_info(request: Request) -> RequestInfo:
    return RequestInfo(
        request_id=request.scope.get("state", {}).get("request_id") or RequestInfo().request_id,
        ip_address=client_address(request),
        user_agent=request.headers.get("user-agent"),
    )


def client_address(request: Request) -> str | None:
    """The client's address as the audit trail and the login throttle know it: the TCP
    peer, or what a trusted proxy forwarded (OPSLEDGER_TRUSTED_PROXIES), and always a
    valid IP address or None, never whatever text a header carried."""
    if request.client is None:
        return None
    host = request.client.host
    # Behind a trusted proxy the host is what it forwarded: text of a client's choosing.
    return _valid_address(host) if len(host) <= LONGEST_ADDRESS else _parsed_address(host)


LONGEST_ADDRESS = 45  # an IPv6 address with an IPv4 tail, as text


def _parsed_address(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


# Parsing was ~12 us of every request's CPU, and a server hears from the same addresses
# again and again; only text as long as an address is kept.
_valid_address = lru_cache(maxsize=4096)(_parsed_address)


BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
HeaderKey = Annotated[str | None, Depends(api_key_header)]


async def current_actor(
    request: Request,
    session: AsyncSession,
    bearer_credentials: HTTPAuthorizationCredentials | None,
    header_key: str | None,
) -> Actor | None:
    """Who sent the request, or None when it carries no credentials; Unauthorized when
    they are wrong. A plain call from each ``Require``, not a dependency of its own: every
    dependency is a step FastAPI takes on every request."""
    settings = settings_of(request)
    credential = bearer_credentials.credentials if bearer_credentials else header_key
    if not credential:
        return None
    if api_keys.looks_like_key(credential) or bearer_credentials is None:
        # X-API-Key carries keys only: one not shaped olk_… is an imported legacy key.
        return await _actor_from_key(credential, session, database_of(request), settings)
    return await actor_from_token(credential, session, settings)


async def actor_from_token(token: str, session: Any, settings: Settings) -> Actor:
    if settings.jwt_secret is None:
        raise Unauthorized(REJECTED)
    try:
        claims = tokens.read(token, settings.jwt_secret.get_secret_value())
    except tokens.TokenRejected:
        raise Unauthorized(REJECTED) from None
    user = await user_repository.for_token(session, claims)
    if user is None or not user.is_active or user.token_version != claims.version:
        raise Unauthorized(REJECTED)
    return Actor(
        id=user.id, username=user.username, role=user.role, method=AuthMethod.token, token=claims
    )


async def _actor_from_key(key: str, session: Any, db: Database, settings: Settings) -> Actor:
    prefix = api_keys.lookup_prefix(key)
    found = await api_key_repository.by_prefix(session, prefix) if prefix else None
    now = datetime.now(UTC)
    if (
        found is None
        or not api_keys.matches(key, found.key_hash)
        or found.revoked_at is not None
        or (found.expires_at is not None and found.expires_at <= now)
        or not found.is_active
    ):
        raise Unauthorized(REJECTED)
    stale = now - timedelta(seconds=settings.api_key_touch_seconds)
    if found.last_used_at is None or found.last_used_at <= stale:
        # Bookkeeping in its own short transaction, at most once a minute per key.
        async with unit_of_work(db.writes) as writes:
            await api_key_repository.touch(writes, found.id, now)
    return Actor(
        id=found.user_id,
        username=found.username,
        role=found.role,
        method=AuthMethod.api_key,
        scopes=frozenset(found.scopes) if found.scopes else None,
        api_key_id=found.id,
    )


def _authorize(actor: Actor | None, action: str) -> Actor:
    if actor is None:
        raise Unauthorized(NOT_AUTHENTICATED)
    if not allows(actor.role, action, actor.scopes):
        raise Forbidden(f"your role may not {action}")
    return actor


class Require:
    """``Depends(Require("hosts:write"))``: the caller must be allowed ``action``; the
    context carries the request's write session. Credentials are looked up in a read
    session of their own (on SQLite, a request that has not yet shown who sent it takes no
    write lock). The policy test reads ``action`` off every route, so a route without a
    requirement cannot slip through."""

    def __init__(self, action: str) -> None:
        self.action = action

    async def __call__(
        self,
        request: Request,
        reads: PrimaryReadSession,
        session: WriteSession,
        bearer_credentials: BearerCredentials,
        header_key: HeaderKey,
    ) -> Ctx:
        actor = await current_actor(request, reads, bearer_credentials, header_key)
        return self.context(request, session, actor)

    def context(self, request: Request, session: AsyncSession, actor: Actor | None) -> Ctx:
        return Ctx(
            session, settings_of(request), _authorize(actor, self.action), request_info(request)
        )


class RequireRead(Require):
    """For routes that read one object: a read session on the primary, so a client reads
    what it has just written (and on SQLite no write lock is taken); credentials are
    looked up in the same session."""

    async def __call__(  # type: ignore[override]
        self,
        request: Request,
        session: PrimaryReadSession,
        bearer_credentials: BearerCredentials,
        header_key: HeaderKey,
    ) -> Ctx:
        actor = await current_actor(request, session, bearer_credentials, header_key)
        return self.context(request, session, actor)


class RequireListing(Require):
    """For lists, statistics and log pages: a read session on the replica when one is
    configured (OPSLEDGER_DATABASE_REPLICA_URL), else on the primary."""

    async def __call__(
        self,
        request: Request,
        reads: PrimaryReadSession,
        session: ReadSession,
        bearer_credentials: BearerCredentials,
        header_key: HeaderKey,
    ) -> Ctx:
        actor = await current_actor(request, reads, bearer_credentials, header_key)
        return self.context(request, session, actor)


class RequireSnapshot(Require):
    """For reads that must see one moment across many statements (a walk of the audit
    chain): a snapshot of the primary."""

    async def __call__(
        self,
        request: Request,
        reads: PrimaryReadSession,
        session: SnapshotSession,
        bearer_credentials: BearerCredentials,
        header_key: HeaderKey,
    ) -> Ctx:
        actor = await current_actor(request, reads, bearer_credentials, header_key)
        return self.context(request, session, actor)


async def anonymous_context(request: Request, session: WriteSession) -> Ctx:
    """For the few public routes that write (login): no actor, but request details."""
    return Ctx(session, settings_of(request), None, request_info(request))
