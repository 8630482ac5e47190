"""Key rotation: re-encrypt every encrypted column under the newest key.

Each batch commits on its own, so a rotation that stops half-way keeps what it did and a
re-run continues: values already under the newest key are skipped. Audit rows are never
re-signed (they are append-only): rows signed under an old key verify while that key stays
on the ring (see audit/keys.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from opsledger.audit import service as audit
from opsledger.config import Settings
from opsledger.db.session import unit_of_work
from opsledger.ops import repository
from opsledger.security.context import cli_context
from opsledger.security.crypto import KeyRing

Sessions = async_sessionmaker[AsyncSession]


@dataclass
class RotationReport:
    examined: dict[str, int] = field(default_factory=dict)
    rotated: dict[str, int] = field(default_factory=dict)


async def values_to_examine(sessions: Sessions) -> dict[str, int]:
    async with unit_of_work(sessions) as session:
        return {
            f"{table.name}.{column.name}": await repository.count_values(session, table, column)
            for table, column in repository.encrypted_columns()
        }


async def rotate_keys(
    sessions: Sessions,
    settings: Settings,
    ring: KeyRing,
    batch: int = 500,
    progress: Callable[[str, int], None] | None = None,
) -> RotationReport:
    report = RotationReport()
    for table, column in repository.encrypted_columns():
        name = f"{table.name}.{column.name}"
        report.examined[name] = report.rotated[name] = 0
        after = 0
        while True:
            async with unit_of_work(sessions) as session:
                tokens = await repository.tokens_after(session, table, column, after, batch)
                changes = [
                    (row_id, token, ring.rotate(token))
                    for row_id, token in tokens
                    if not ring.is_current(token)
                ]
                if changes:
                    await repository.replace_tokens(session, table, column, changes)
            report.examined[name] += len(tokens)
            report.rotated[name] += len(changes)
            if progress is not None:
                progress(name, len(tokens))
            if len(tokens) < batch:
                break
            after = tokens[-1][0]
    async with unit_of_work(sessions) as session:
        audit.record(
            cli_context(session, settings),
            "rotate",
            "encryption_key",
            None,
            after={"examined": report.examined, "rotated": report.rotated},
        )
    return report
