"""Reads the driver runs itself answer what the same select through SQLAlchemy answers,
value for value and type for type, on every backend."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from opsledger.api_keys import repository as api_keys
from opsledger.db.engine import reader
from opsledger.db.session import session_factory
from opsledger.hosts import repository as hosts
from opsledger.hosts.models import Host, HostStatus
from opsledger.jobs import repository
from opsledger.jobs.models import JobLog
from opsledger.security.tokens import TokenClaims
from opsledger.users import repository as users
from opsledger.users.models import User, UserRole
from tests import factories as f


async def test_a_log_page_read_by_the_driver_equals_the_orms_reading(
    session: AsyncSession,
) -> None:
    job = await f.make_job(session)
    stamps = [
        datetime(2026, 3, 29, 1, 59, 59, 999_999, tzinfo=UTC),
        datetime(2026, 3, 29, 2, 0, tzinfo=UTC),  # no microseconds
        datetime(2026, 12, 31, 23, 59, 59, 1, tzinfo=UTC),
    ]
    lines = [
        {"line_number": 1, "content": "ok: [web-1]", "log_level": "INFO"},
        {"line_number": 2, "content": "tâche ✓ 'quoted' %s ? $1", "log_level": None},
        {"line_number": 3, "content": "", "log_level": "ERROR"},
    ]
    await session.execute(
        insert(JobLog),
        [
            line | {"job_id": job.id, "job_created": job.created_at, "timestamp": stamp}
            for line, stamp in zip(lines, stamps, strict=True)
        ],
    )
    columns = (JobLog.line_number, JobLog.content, JobLog.log_level, JobLog.timestamp)

    async def through_sqlalchemy(after: int, limit: int) -> list[tuple[object, ...]]:
        statement = (
            select(*columns)
            .where(JobLog.job_id == job.id, JobLog.line_number > after)
            .order_by(JobLog.line_number)
            .limit(limit)
        )
        return [tuple(row) for row in await session.execute(statement)]

    for after, limit in ((0, 500), (1, 1), (3, 10)):
        by_driver = [
            tuple(row) for row in await repository.log_lines(session, job.id, after, limit)
        ]
        expected = await through_sqlalchemy(after, limit)
        assert by_driver == expected
        assert [[type(value) for value in row] for row in by_driver] == [
            [type(value) for value in row] for row in expected
        ]
    stamped = await repository.log_lines(session, job.id, 0, 500)
    assert [row[3] for row in stamped] == stamps
    assert all(row[3].tzinfo is not None for row in stamped)


@pytest.mark.backends("postgresql")
async def test_a_driver_failure_is_a_database_error_and_the_connection_is_dropped(
    engine: AsyncEngine,
) -> None:
    async with session_factory(reader(engine))() as session:
        with pytest.raises(OperationalError) as refused:
            await repository.log_lines(session, 2**40, 0, 10)  # out of int4 range
        connection = await session.connection()
        assert connection.invalidated
    assert "[parameters:" not in str(refused.value)  # as the engine hides them


async def test_a_driver_read_takes_exactly_its_bound_names(session: AsyncSession) -> None:
    with pytest.raises(TypeError, match="are bound"):
        await repository._LOG_PAGE.rows(session, job_id=1, after=0)
    with pytest.raises(TypeError, match="are bound"):
        await repository._LOG_PAGE.rows(session, job_id=1, after=0, limit=1, offset=3)


async def test_a_row_read_by_id_for_an_answer_equals_the_loaded_row(
    session: AsyncSession,
) -> None:
    """Every column of a host and a user, as the answer reads them, is the value and type
    the ORM loads (JSON tags, an enum, aware times, nulls), and an unknown id is None."""
    host = await f.make_host(
        session,
        tags={"rack": "r1", "weight": 1, "canary": True, "ratio": 0.5},
        environment="production",
        provisioned_at=datetime(2026, 3, 29, 2, 0, tzinfo=UTC),
    )
    user = await f.make_user(session, role=UserRole.operator)
    for model, row, read in ((Host, host, hosts.row), (User, user, users.row)):
        names = [attribute.key for attribute in model.__mapper__.column_attrs]
        await session.refresh(row)  # as loaded, not as made
        answered = await read(session, row.id, names)
        assert answered is not None
        loaded = {name: getattr(row, name) for name in names}
        assert answered == loaded
        assert {name: type(value) for name, value in answered.items()} == {
            name: type(value) for name, value in loaded.items()
        }
        assert await read(session, 2**31 - 1, names) is None
    only = await hosts.row(session, host.id, ["hostname", "tags"])
    assert only == {"hostname": host.hostname, "tags": host.tags}


async def test_the_credentials_lookups_answer_what_the_orm_loads(session: AsyncSession) -> None:
    """The API-key owner and the token's user, read by the driver on every request, carry
    the types the ORM gives them: a role is a UserRole, times are aware, scopes a list."""
    user = await f.make_user(session, role=UserRole.viewer)
    stamp = datetime(2026, 12, 31, 23, 59, 59, 1, tzinfo=UTC)
    key = await f.make_api_key(
        session, user, scopes=["hosts:read"], expires_at=stamp, last_used_at=stamp
    )
    owner = await api_keys.by_prefix(session, key.prefix)
    assert owner is not None
    assert owner == (
        key.id, key.key_hash, ["hosts:read"], stamp, None, stamp,
        user.id, user.username, UserRole.viewer, True,
    )  # fmt: skip
    assert type(owner.role) is UserRole
    assert await api_keys.by_prefix(session, "olk_none") is None
    claims = TokenClaims(user_id=user.id, version=0, token_id="t" * 32, expires_at=stamp)
    assert await users.for_token(session, claims) == (
        user.id, user.username, UserRole.viewer, True, 0
    )  # fmt: skip
    await users.revoke_token(session, claims)
    assert await users.for_token(session, claims) is None


async def test_a_page_read_for_an_answer_is_the_loaded_page(session: AsyncSession) -> None:
    """Each shape of the hosts list (filters, a tag with and without a value, a cursor),
    read by the driver, holds the rows and cursor the ORM's page holds."""
    environment = f.unique("env")
    for n in range(5):
        await f.make_host(
            session,
            environment=environment,
            status=HostStatus.deployed if n % 2 else HostStatus.new,
            tags={"rack": f"r{n % 2}", "canary": n == 3},
        )
    names = [attribute.key for attribute in Host.__mapper__.column_attrs]
    shapes = [
        ({"environment": environment}, None),
        ({"environment": environment, "status": HostStatus.deployed}, None),
        ({"environment": environment, "is_active": True}, ("rack", None)),
        ({"environment": environment}, ("rack", "r1")),
        ({"environment": environment}, ("canary", "true")),
    ]
    for filters, tag in shapes:
        for limit in (1, 2, 10):
            after = None
            while True:
                loaded = await hosts.page(session, filters, tag, limit, after)
                answered = await hosts.answer_page(session, names, filters, tag, limit, after)
                expected = [{name: getattr(row, name) for name in names} for row in loaded.items]
                assert (answered.items, answered.next_cursor) == (expected, loaded.next_cursor)
                if loaded.next_cursor is None:
                    break
                after = loaded.next_cursor
