"""Enum columns stored as short strings with a named CHECK constraint on every backend."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import Enum


def enum_column(enum: type[StrEnum], name: str) -> Enum:
    """VARCHAR + CHECK rather than a native enum type: identical DDL on all three backends,
    and adding a value later is a constraint change, not a type migration."""
    return Enum(
        enum,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=max(len(member.value) for member in enum),
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )
