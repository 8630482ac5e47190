"""Audit chains for tests that need one of their own: written as the server writes them or
as revision 0007 did, walked as `opsledger audit verify` walks them, and rewritten the way
someone who can write the database would."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.audit import service as audit
from opsledger.audit.chain import compute_hash
from opsledger.audit.keys import AuditKey
from opsledger.config import Settings
from opsledger.db.base import utcnow
from opsledger.db.engine import snapshot
from opsledger.db.session import session_factory, unit_of_work
from opsledger.models import AuditChain, AuditLog
from opsledger.security.context import cli_context


async def append_rows(engine: AsyncEngine, count: int, settings: Settings | None = None) -> None:
    async with unit_of_work(session_factory(engine)) as session:
        ctx = cli_context(session, settings or Settings())
        for n in range(count):
            audit.record(ctx, "create", "host", n, after={"hostname": f"web-{n}", "cpu": 1.5})


async def verify(
    engine: AsyncEngine,
    settings: Settings | None = None,
    expected: audit.ExpectedHead | None = None,
) -> audit.Verification:
    """As `opsledger audit verify` walks the chain: on one snapshot of the database."""
    async with unit_of_work(session_factory(snapshot(engine))) as session:
        return await audit.verify(session, settings or Settings(), expected=expected)


async def write_unkeyed_rows(
    engine: AsyncEngine, count: int, at: datetime | None = None
) -> list[int]:
    """``count`` rows as revision 0007 wrote them (plain SHA-256, no key_id), into a
    database migrated no further; returns their ids. Only the columns 0007 has are named."""
    ids: list[int] = []
    async with engine.begin() as connection:
        prev = await connection.scalar(select(AuditChain.head_hash))
        for n in range(count):
            fields = {
                "user_name": "cli:before-keying",
                "action": "create",
                "resource_type": "host",
                "resource_id": n,
                "timestamp": at or utcnow(),
                "prev_hash": prev,
            }
            prev = compute_hash(prev, AuditLog(**fields), None)
            written = await connection.execute(insert(AuditLog).values(**fields, hash=prev))
            ids.append(written.inserted_primary_key[0])
        await connection.execute(update(AuditChain).values(head_id=ids[-1], head_hash=prev))
    return ids


DROP_GUARDS = {
    "postgresql": ["DROP TRIGGER audit_logs_append_only ON audit_logs"],
    "mariadb": ["DROP TRIGGER audit_logs_no_update", "DROP TRIGGER audit_logs_no_delete"],
    "sqlite": [
        "DROP TRIGGER audit_logs_no_update",
        "DROP TRIGGER audit_logs_user_id_only_nulls",
        "DROP TRIGGER audit_logs_no_delete",
    ],
}


async def drop_guards(engine: AsyncEngine, backend: str) -> None:
    async with engine.begin() as connection:
        for drop in DROP_GUARDS[backend]:
            await connection.execute(text(drop))


async def tamper(engine: AsyncEngine, backend: str, statement: str) -> None:
    await drop_guards(engine, backend)
    async with engine.begin() as connection:
        await connection.execute(text(statement))


async def forge(
    engine: AsyncEngine, backend: str, first: int, key: AuditKey | None, key_id: str | None
) -> None:
    """Change row ``first`` and re-chain it and every row after it, head included, with
    ``key`` (None: plain SHA-256) and ``key_id``: all a forger without the audit key can
    do, so only the signature can give it away."""
    await drop_guards(engine, backend)
    async with unit_of_work(session_factory(engine)) as session:
        statement = select(AuditLog).where(AuditLog.id >= first).order_by(AuditLog.id)
        rows = list(await session.scalars(statement))
        rows[0].user_agent = "forged"
        prev = rows[0].prev_hash
        for row in rows:
            row.prev_hash, row.key_id = prev, key_id
            row.hash = prev = compute_hash(prev, row, key)
        await session.execute(update(AuditChain).values(head_hash=prev))


async def chain_state(engine: AsyncEngine) -> dict[str, object]:
    """The audit_chain row as it is now, to put back later."""
    async with engine.connect() as connection:
        row = (await connection.execute(select(AuditChain.__table__))).one()
    return dict(row._mapping)


async def roll_back(engine: AsyncEngine, backend: str, earlier: dict[str, object]) -> None:
    """What review 3 did: delete the rows written since ``earlier`` was saved (triggers
    dropped) and put that audit_chain row back, seal and all. No key is needed."""
    await tamper(engine, backend, f"DELETE FROM audit_logs WHERE id > {earlier['head_id']}")
    async with engine.begin() as connection:
        await connection.execute(update(AuditChain).values(earlier))
