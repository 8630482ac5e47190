"""Sessions: one unit of work per request or command, committed once at the end, and
undoing what it did outside the database when it does not commit."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, SessionTransaction

UNDO = "opsledger.undo"


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def unit_of_work(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """Commit once when the block ends; roll back if anything in it raises."""
    async with factory() as session, session.begin():
        yield session


def when_committed(session: AsyncSession, callback: Callable[[], None]) -> None:
    """Call ``callback`` once the session's transaction has committed (never when it
    rolls back): for what may only follow a change that happened (a task sent, a
    dispatcher woken). It runs on the event loop: it must be quick and not raise."""
    event.listen(session.sync_session, "after_commit", lambda _session: callback(), once=True)


def undo_unless_committed(session: AsyncSession, undo: Callable[[], None]) -> None:
    """Call ``undo`` if the session's transaction ends without committing (rolled back,
    failed to commit, or closed), so what the unit of work did outside the database (a
    file it wrote) does not outlive a change that never happened. ``undo`` runs as the
    transaction ends, on the event loop: it must be quick, local and not raise."""
    session.info.setdefault(UNDO, []).append(undo)


@event.listens_for(Session, "after_commit")
def _keep(session: Session) -> None:
    if not session.in_nested_transaction():  # a savepoint's release commits nothing yet
        session.info.pop(UNDO, None)


@event.listens_for(Session, "after_transaction_end")
def _undo(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        for undo in reversed(session.info.pop(UNDO, [])):
            undo()
