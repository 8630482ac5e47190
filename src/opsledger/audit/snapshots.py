"""Row snapshots for before/after: every column, with secrets replaced by a mask."""

from __future__ import annotations

from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import inspect

from opsledger.db.types import EncryptedString

MASK = "********"
# Columns that hold secrets without being encrypted (hashes are secrets too: a leaked
# hash can be attacked offline).
SECRET_COLUMNS = frozenset({"password_hash", "key_hash", "password", "token", "secret", "key"})


def is_secret(name: str, column_type: object) -> bool:
    return name in SECRET_COLUMNS or isinstance(column_type, EncryptedString)


def snapshot(row: object) -> dict[str, Any]:
    """The row's loaded column values as JSON-ready data, secrets masked."""
    state = inspect(row)
    values: dict[str, Any] = {}
    for attribute in state.mapper.column_attrs:
        column = attribute.columns[0]
        if is_secret(attribute.key, column.type):
            # A secret is masked even when it was never loaded: its value is not needed.
            loaded_null = attribute.key in state.dict and state.dict[attribute.key] is None
            values[attribute.key] = None if loaded_null else MASK
        else:
            values[attribute.key] = to_jsonable_python(state.dict.get(attribute.key))
    return values


def unloaded_columns(row: object) -> list[str]:
    """Columns the row would have to load from the database before it can be snapshot."""
    state = inspect(row)
    names = {
        attribute.key
        for attribute in state.mapper.column_attrs
        if not is_secret(attribute.key, attribute.columns[0].type)
    }
    return sorted(names & state.unloaded)
