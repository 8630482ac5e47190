"""Alembic environment. Runs on a connection handed over by ``opsledger.migrations``
(the CLI and the tests), or opens one from the configured URL for plain ``alembic``."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from opsledger.migrations import configure_context
from opsledger.models import metadata


def run_on(connection: Connection) -> None:
    configure_context(context, connection, metadata)
    with context.begin_transaction():
        context.run_migrations()


async def run_from_url() -> None:
    from opsledger.config import Settings
    from opsledger.db.engine import create_engine

    engine = create_engine(Settings())
    async with engine.connect() as connection:
        await connection.run_sync(run_on)
    await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("opsledger migrations run online only: `opsledger db upgrade`")

shared = context.config.attributes.get("connection")
if shared is not None:
    run_on(shared)
else:
    asyncio.run(run_from_url())
