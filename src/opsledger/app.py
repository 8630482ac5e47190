"""The ASGI application: routers, error handling and the database it serves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

import opsledger.models  # noqa: F401 - every mapper registered before first use
from opsledger.config import Settings
from opsledger.db.engine import create_engine, reader
from opsledger.db.session import session_factory
from opsledger.kit.errors import ServiceUnavailable, install_error_handlers, problem_responses
from opsledger.security.crypto import KeyRing, install_key_ring


class Database:
    """The engines and session factories one application instance serves from."""

    def __init__(self, engine: AsyncEngine, replica: AsyncEngine | None = None) -> None:
        self.engine = engine
        self.replica = replica
        self.sessions = session_factory(engine)
        self.read_sessions = session_factory(replica or reader(engine))

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.replica is not None:
            await self.replica.dispose()


def database(request: Request) -> Database:
    db: Database = request.app.state.database
    return db


async def session(db: Annotated[Database, Depends(database)]) -> AsyncIterator[AsyncSession]:
    """One unit of work per request: committed after the endpoint returns, before the
    response is sent, or rolled back if anything raised."""
    async with db.sessions() as unit, unit.begin():
        yield unit


async def read_session(db: Annotated[Database, Depends(database)]) -> AsyncIterator[AsyncSession]:
    """A read-only session: the replica when configured, never the SQLite write lock."""
    async with db.read_sessions() as unit, unit.begin():
        yield unit


Session = Annotated[AsyncSession, Depends(session, scope="function")]
ReadSession = Annotated[AsyncSession, Depends(read_session, scope="function")]


class Health(BaseModel):
    status: str
    database: str


def create_app(
    settings: Settings | None = None,
    engine: AsyncEngine | None = None,
    key_ring: KeyRing | None = None,
) -> FastAPI:
    settings = settings or Settings().with_key_file()
    if key_ring is not None or settings.has_encryption_key:
        install_key_ring(key_ring or KeyRing.from_settings(settings))
    db = Database(
        engine or create_engine(settings),
        create_engine(settings, settings.database_replica_url)
        if settings.database_replica_url
        else None,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await db.dispose()

    app = FastAPI(title="opsledger", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.database = db
    install_error_handlers(app)

    @app.get("/healthz", responses=problem_responses(ServiceUnavailable), tags=["operations"])
    async def healthz(unit: ReadSession) -> Health:
        """Liveness: the process answers and its database accepts a query."""
        try:
            await unit.execute(text("SELECT 1"))
        except (SQLAlchemyError, OSError) as exc:
            raise ServiceUnavailable(f"database unreachable: {type(exc).__name__}") from None
        return Health(status="ok", database="ok")

    return app
