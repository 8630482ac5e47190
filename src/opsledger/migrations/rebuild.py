"""Rebuilding a PostgreSQL table in place, the way job_logs and audit_logs become (and
stop being) monthly partitioned tables: PostgreSQL cannot turn a table into a partitioned
one, so a new table is built next to it, filled, and swapped in under the old names."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from opsledger.ops.partitions import Partitioned


@dataclass(frozen=True)
class Rebuild:
    table: str
    # The column list, copied as is from the old table to the new one.
    columns: str
    # Constraint suffixes in the new table's DDL (``<staging>_<suffix>``) → final names.
    constraints: Mapping[str, str]
    # Statements run on the swapped-in table: its indexes and triggers.
    finish: Sequence[str]

    @property
    def sequence(self) -> str:
        return f"{self.table}_id_seq"

    def run(self, staging: str, create: str, partitions: Sequence[str] = ()) -> None:
        """Build ``staging`` with ``create`` (and ``partitions``), copy every row into it,
        and put it in the old table's place; ids continue from the same sequence."""
        op.execute(f"ALTER SEQUENCE {self.sequence} OWNED BY NONE")
        op.execute(create)
        for statement in partitions:
            op.execute(statement)
        # Every name here is a migration's constant.
        copy = f"INSERT INTO {staging} ({self.columns}) SELECT {self.columns} FROM {self.table}"  # noqa: S608
        op.execute(copy)
        op.execute(f"DROP TABLE {self.table}")
        op.execute(f"ALTER TABLE {staging} RENAME TO {self.table}")
        for suffix, name in self.constraints.items():
            op.execute(f"ALTER TABLE {self.table} RENAME CONSTRAINT {staging}_{suffix} TO {name}")
        for statement in self.finish:
            op.execute(statement)
        op.execute(f"ALTER SEQUENCE {self.sequence} OWNED BY {self.table}.id")

    def into_months(self, spec: Partitioned, staging: str, create: str) -> None:
        """``run`` with ``staging`` partitioned by month: one partition for each month from
        the oldest row's to a few ahead of this one, and the default partition."""
        oldest = op.get_bind().scalar(sa.text(f"SELECT min({spec.key}) FROM {self.table}"))  # noqa: S608
        partitions = [
            statement
            for month in spec.months_for(oldest, datetime.now(UTC))
            for statement in spec.create_sql(month, parent=staging)
        ]
        self.run(staging, create, [*partitions, *spec.default_sql(parent=staging)])
