"""The only SQL for users."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from sqlalchemy import bindparam, delete, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.db import queries
from opsledger.db.base import utcnow
from opsledger.db.driver import DriverSelect, RowsById
from opsledger.kit.pagination import Rows
from opsledger.security.tokens import TokenClaims
from opsledger.users.models import RevokedToken, User, UserRole

_ROWS = RowsById(User)


async def get(session: AsyncSession, user_id: int) -> User | None:
    return await session.get(User, user_id)


async def row(session: AsyncSession, user_id: int, names: Iterable[str]) -> dict[str, Any] | None:
    """The user's ``names`` columns, for an answer (a read session's)."""
    return await _ROWS.get(session, user_id, names)


async def by_username(session: AsyncSession, username: str) -> User | None:
    return await session.scalar(select(User).where(User.username == username))


async def taken(session: AsyncSession, username: str, email: str) -> bool:
    clash = or_(User.username == username, User.email == email)
    return bool(await session.scalar(select(exists().where(clash))))


async def email_taken(session: AsyncSession, email: str, other_than: int) -> bool:
    clash = (User.email == email) & (User.id != other_than)
    return bool(await session.scalar(select(exists().where(clash))))


async def add(session: AsyncSession, user: User) -> User:
    session.add(user)
    await session.flush()
    return user


async def page(session: AsyncSession, limit: int, after: int | None) -> Rows[User]:
    return await queries.keyset_page(session, select(User), User.id, limit, after)


async def all_users(session: AsyncSession) -> list[User]:
    return list(await session.scalars(select(User).order_by(User.id)))


async def lock_active_admins(session: AsyncSession) -> list[int]:
    """The active admins' ids, their rows locked until the transaction ends (in id order,
    so two such transactions cannot deadlock): two admins demoting each other at once
    then see each other's outcome instead of both seeing two admins. SQLite serialises
    writing transactions anyway (BEGIN IMMEDIATE)."""
    statement = (
        select(User.id)
        .where(User.role == UserRole.admin, User.is_active)
        .order_by(User.id)
        .with_for_update()
    )
    return list((await session.scalars(statement)).all())


async def any_admin(session: AsyncSession) -> bool:
    return bool(await session.scalar(select(exists().where(User.role == UserRole.admin))))


def token_version_bumped() -> Any:
    """``token_version + 1`` as the database computes it, for an update: two racing bumps
    both count."""
    return User.token_version + 1


async def bump_token_version(session: AsyncSession, user: User) -> None:
    """Every token issued before now stops working."""
    await session.execute(
        update(User)
        .where(User.id == user.id)
        .values(token_version=User.token_version + 1)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(user, attribute_names=["token_version", "updated_at"])


class TokenUser(NamedTuple):
    """What authenticating with a token needs of its user."""

    id: int
    username: str
    role: UserRole
    is_active: bool
    token_version: int


# Read by the driver itself, as the API-key lookup is: it runs on every signed-in request.
_users, _revoked = User.__table__, RevokedToken.__table__
_TOKEN_USER = DriverSelect(
    select(
        _users.c.id, _users.c.username, _users.c.role, _users.c.is_active, _users.c.token_version
    ).where(
        _users.c.id == bindparam("user_id"),
        ~exists().where(_revoked.c.token_id == bindparam("token_id")),
    )
)


async def for_token(session: AsyncSession, claims: TokenClaims) -> TokenUser | None:
    """The token's user, or None when the token was signed out: one statement."""
    rows = await _TOKEN_USER.rows(session, user_id=claims.user_id, token_id=claims.token_id)
    return TokenUser._make(rows[0]) if rows else None


async def revoke_token(session: AsyncSession, claims: TokenClaims) -> None:
    """Refuse the token from now on; forget tokens past their expiry while at it."""
    await session.execute(delete(RevokedToken).where(RevokedToken.expires_at <= utcnow()))
    session.add(RevokedToken(token_id=claims.token_id, expires_at=claims.expires_at))
    await session.flush()
