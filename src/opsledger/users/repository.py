"""The only SQL for users."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.db import queries
from opsledger.db.base import utcnow
from opsledger.kit.pagination import Rows
from opsledger.security.tokens import TokenClaims
from opsledger.users.models import RevokedToken, User, UserRole


async def get(session: AsyncSession, user_id: int) -> User | None:
    return await session.get(User, user_id)


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


async def for_token(session: AsyncSession, claims: TokenClaims) -> User | None:
    """The token's user, or None when the token was signed out: one statement."""
    revoked = exists().where(RevokedToken.token_id == claims.token_id)
    statement = select(User).where(User.id == claims.user_id, ~revoked)
    return await session.scalar(statement)


async def revoke_token(session: AsyncSession, claims: TokenClaims) -> None:
    """Refuse the token from now on; forget tokens past their expiry while at it."""
    await session.execute(delete(RevokedToken).where(RevokedToken.expires_at <= utcnow()))
    session.add(RevokedToken(token_id=claims.token_id, expires_at=claims.expires_at))
    await session.flush()
