"""Who is acting and from where: what services and the audit trail are told of a request."""

from __future__ import annotations

import getpass
import os
import socket
import uuid
from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.config import Settings
from opsledger.security.tokens import TokenClaims
from opsledger.users.models import UserRole


class AuthMethod(StrEnum):
    token = "token"  # noqa: S105 - a method name
    api_key = "api_key"
    cli = "cli"
    system = "system"


@dataclass(frozen=True)
class Actor:
    id: int | None
    username: str
    role: UserRole
    method: AuthMethod
    scopes: frozenset[str] | None = None
    api_key_id: int | None = None
    token: TokenClaims | None = None  # when signed in with a token (API or console)

    @property
    def is_admin(self) -> bool:
        return self.role is UserRole.admin


@dataclass(frozen=True)
class RequestInfo:
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    ip_address: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True)
class Ctx:
    """One unit of work's session, its actor (None before login) and request details."""

    session: AsyncSession
    settings: Settings
    actor: Actor | None = None
    request: RequestInfo = field(default_factory=RequestInfo)

    @property
    def user(self) -> Actor:
        """The authenticated actor; only for code behind an authenticated route."""
        if self.actor is None:
            raise RuntimeError("no authenticated actor in this context")
        return self.actor

    @property
    def visible_owner(self) -> int | None:
        """Whose owned objects (keys, secrets, deployments) this actor may see: an admin
        sees everyone's (None), anyone else only their own."""
        return None if self.user.is_admin else self.user_id

    @property
    def user_id(self) -> int:
        """The acting user's id; only for routes a signed-in user calls."""
        if self.user.id is None:
            raise RuntimeError("this actor is not a user of opsledger")
        return self.user.id


def cli_context(session: AsyncSession, settings: Settings) -> Ctx:
    """A context for commands run on the server itself: acting as the local OS user."""
    actor = Actor(
        id=None, username=f"cli:{getpass.getuser()}", role=UserRole.admin, method=AuthMethod.cli
    )
    return Ctx(session, settings, actor, RequestInfo(user_agent="opsledger-cli"))


def worker_name(kind: str) -> str:
    """How background work is named in the audit trail: what it is, where it runs."""
    return f"{kind}@{socket.gethostname()}:{os.getpid()}"


def system_context(session: AsyncSession, settings: Settings, name: str) -> Ctx:
    """A context for opsledger's own background work (the job runner, the reaper): its
    audit rows name ``name`` instead of a user."""
    actor = Actor(id=None, username=name, role=UserRole.admin, method=AuthMethod.system)
    return Ctx(session, settings, actor, RequestInfo(user_agent="opsledger-runner"))
