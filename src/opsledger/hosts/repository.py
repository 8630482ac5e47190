"""The only SQL for hosts."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import BindParameter

from opsledger.db import queries
from opsledger.db.driver import Bound, DriverPages, RowsById
from opsledger.db.types import member_name, member_text
from opsledger.hosts.models import Host, HostStatus
from opsledger.jobs.models import Job
from opsledger.kit.filtering import where_equal
from opsledger.kit.pagination import Rows

TagMatch = tuple[str, str | None]


_ROWS = RowsById(Host)
_PAGES = DriverPages(Host)


async def get(session: AsyncSession, host_id: int) -> Host | None:
    return await session.get(Host, host_id)


async def row(session: AsyncSession, host_id: int, names: Iterable[str]) -> dict[str, Any] | None:
    """The host's ``names`` columns, for an answer (a read session's)."""
    return await _ROWS.get(session, host_id, names)


async def by_reference(session: AsyncSession, ref: str) -> Host | None:
    return await queries.by_name_or_id(session, Host, Host.hostname, ref)


async def named_all(session: AsyncSession, names: Collection[str]) -> dict[str, Host]:
    """name → the active host of this hostname, or else the one active host of this
    address, for each of the names that names one (exactly: on MariaDB too, whose
    collation matches more): two statements for them all."""
    if not names:
        return {}
    active = Host.is_active.is_(True)
    by_name = {
        host.hostname: host
        for host in await session.scalars(select(Host).where(Host.hostname.in_(names), active))
    }
    addresses = [name for name in names if name not in by_name]
    by_address: dict[str, list[Host]] = {}
    if addresses:
        statement = select(Host).where(Host.ip_address.in_(addresses), active)
        for host in await session.scalars(statement):
            by_address.setdefault(host.ip_address, []).append(host)
    return by_name | {address: hosts[0] for address, hosts in by_address.items() if len(hosts) == 1}


async def by_ids(session: AsyncSession, host_ids: Collection[int]) -> dict[int, Host]:
    if not host_ids:
        return {}
    return {
        host.id: host for host in await session.scalars(select(Host).where(Host.id.in_(host_ids)))
    }


async def hostname_taken(
    session: AsyncSession, hostname: str, other_than: int | None = None
) -> bool:
    return await queries.value_taken(session, Host.hostname, hostname, other_than)


async def page(
    session: AsyncSession,
    filters: dict[str, Any],
    tag: tuple[str, str | None] | None,
    limit: int,
    after: int | None,
) -> Rows[Host]:
    statement = select(Host)
    if tag is not None:
        statement = statement.where(has_tag(tag))
    return await queries.page(session, Host, filters, limit, after, statement)


async def answer_page(
    session: AsyncSession,
    names: Iterable[str],
    filters: dict[str, Any],
    tag: TagMatch | None,
    limit: int,
    after: int | None,
) -> Rows[dict[str, Any]]:
    """A page of hosts' ``names`` columns for the API's list (a read session's)."""
    conditions = () if tag is None else (_bound_tag(tag),)
    return await _PAGES.page(session, names, filters, limit, after, *conditions)


def has_tag(tag: TagMatch) -> ColumnElement[bool]:
    """The host has tag ``key`` (value None), or has it with that value; the name and value
    are bound parameters on every backend."""
    return _tag_clause(*tag)


def _tag_clause(key: str | BindParameter[str], value: Any) -> ColumnElement[bool]:
    tag_text = member_text(Host.tags, key)
    return tag_text.is_not(None) if value is None else tag_text == value


def _bound_tag(tag: TagMatch) -> Bound:
    """``has_tag`` for a statement built once: the name and value bound at each read."""
    key, value = tag
    if value is None:
        return Bound("tag", lambda: _tag_clause(member_name("tag_key"), None), {"tag_key": key})
    return Bound(
        "tag=value",
        lambda: _tag_clause(member_name("tag_key"), bindparam("tag_value")),
        {"tag_key": key, "tag_value": value},
    )


def _selectable() -> tuple[ColumnElement[bool], ...]:
    """What every host a selector can match is: active and not decommissioned."""
    return Host.is_active.is_(True), Host.status != HostStatus.decommissioned


def _selection(
    host_ids: Sequence[int] | None, filters: dict[str, Any], tags: Sequence[TagMatch]
) -> Select[Any]:
    statement = select(Host).where(*_selectable())
    if host_ids is not None:
        statement = statement.where(Host.id.in_(host_ids))
    for tag in tags:
        statement = statement.where(has_tag(tag))
    return where_equal(statement, Host, filters)


async def selected(
    session: AsyncSession,
    host_ids: Sequence[int] | None,
    filters: dict[str, Any],
    tags: Sequence[TagMatch],
) -> list[Host]:
    """Every active, non-decommissioned host matching all of it, by id: one statement."""
    statement = _selection(host_ids, filters, tags).order_by(Host.id)
    return list(await session.scalars(statement))


async def selected_page(
    session: AsyncSession,
    host_ids: Sequence[int] | None,
    filters: dict[str, Any],
    tags: Sequence[TagMatch],
    limit: int,
    after: int | None,
) -> tuple[Rows[Host], int]:
    """A keyset page of what ``selected`` answers, and how many rows it answers in all."""
    statement = _selection(host_ids, filters, tags)
    total = await session.scalar(select(func.count()).select_from(statement.subquery()))
    return await queries.keyset_page(session, statement, Host.id, limit, after), int(total or 0)


async def has_jobs(session: AsyncSession, host_id: int) -> bool:
    return bool(await session.scalar(select(exists().where(Job.host_id == host_id))))


async def missing_ids(session: AsyncSession, host_ids: Sequence[int]) -> list[int]:
    """Which of ``host_ids`` name no host."""
    found = set(await session.scalars(select(Host.id).where(Host.id.in_(host_ids))))
    return sorted(set(host_ids) - found)


async def environments(session: AsyncSession) -> list[str]:
    """The environments of the hosts a selector can match (active, not decommissioned)."""
    statement = (
        select(Host.environment)
        .where(*_selectable(), Host.environment.is_not(None))
        .distinct()
        .order_by(Host.environment)
    )
    return [value for value in await session.scalars(statement) if value is not None]


async def tag_values(session: AsyncSession, key: str) -> list[str]:
    """The values tag ``key`` has on the hosts a selector can match, as text."""
    statement = select(member_text(Host.tags, key)).where(*_selectable()).distinct()
    return sorted(value for value in await session.scalars(statement) if value is not None)
