"""Per-request sessions as FastAPI dependencies: one unit of work per request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from opsledger.db.engine import reader, snapshot
from opsledger.db.session import session_factory
from opsledger.kit.routers import closing


class Database:
    """The engines and session factories one application instance serves from.

    ``writes`` is the primary; ``primary_reads`` reads the primary without taking SQLite's
    write lock (authentication, read-your-writes); ``reads`` is the replica when one is
    configured, else the same as ``primary_reads``; ``snapshots`` reads the primary as of
    one moment across statements (walking the audit chain)."""

    def __init__(self, engine: AsyncEngine, replica: AsyncEngine | None = None) -> None:
        self.engine = engine
        self.replica = replica
        self.writes = session_factory(engine)
        self.primary_reads = session_factory(reader(engine))
        self.snapshots = session_factory(snapshot(engine))
        self.reads = session_factory(reader(replica)) if replica is not None else None

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.replica is not None:
            await self.replica.dispose()


def database_of(request: Request) -> Database:
    db: Database = request.app.state.database
    return db


def discard_changes(request: Request) -> None:
    """Roll the request's unit of work back instead of committing it: for an answer that
    reports a failure without raising (a console form shown again with its errors), so
    whatever the failed step had flushed (a row without its audit row) never commits."""
    request.state.discard_changes = True


async def _write_session(request: Request) -> AsyncIterator[AsyncSession]:
    """Committed after the endpoint returns, before the response is sent; rolled back if
    anything raised or the endpoint discarded its changes, so an error answer never
    leaves a half-made change behind."""
    unit = database_of(request).writes()
    try:
        async with unit.begin():
            yield unit
            if getattr(request.state, "discard_changes", False):
                await unit.rollback()
    finally:
        await unit.close()


def _read_unit(request: Request, factory: async_sessionmaker[AsyncSession]) -> AsyncSession:
    """A read session (``db.engine.reader``'s) as it is: no transaction begun around it on
    PostgreSQL and SQLite, where each statement sees what had committed when it began; on
    MariaDB the transaction its first statement opened is rolled back as it closes. The
    route closes it as its answer is made (``kit.routers.closing``), directly: as a
    generator dependency, or by ``async with`` (which starts a task to shield the close),
    a read cost 0.07-0.09 ms of CPU more (by id 940 -> 869 us, bench/request_path.py)."""
    unit = factory()
    closing(request).push_async_callback(unit.close)
    return unit


async def _primary_read_session(request: Request) -> AsyncSession:
    return _read_unit(request, database_of(request).primary_reads)


PrimaryReadSession = Annotated[AsyncSession, Depends(_primary_read_session)]


async def _read_session(request: Request, primary: PrimaryReadSession) -> AsyncSession:
    db = database_of(request)
    return primary if db.reads is None else _read_unit(request, db.reads)


async def _snapshot_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with database_of(request).snapshots() as unit, unit.begin():
        yield unit


WriteSession = Annotated[AsyncSession, Depends(_write_session, scope="function")]
ReadSession = Annotated[AsyncSession, Depends(_read_session)]
SnapshotSession = Annotated[AsyncSession, Depends(_snapshot_session, scope="function")]
