"""List queries: one query model per list endpoint, unknown parameters refused, and
filters named after columns applied as equality conditions."""

from __future__ import annotations

from typing import Any

from pydantic import Field
from sqlalchemy import Select

from opsledger.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT
from opsledger.kit.schemas import MAX_ID, StrictInput


class ListQuery(StrictInput):
    """Paging for every list; subclasses add filters named after their columns."""

    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Items per page.")
    after: int | None = Field(
        None, ge=0, le=MAX_ID, description="The `next_cursor` of the previous page."
    )

    def filters(self) -> dict[str, Any]:
        """The filter values given, without the paging ones."""
        return self.model_dump(exclude={"limit", "after"}, exclude_none=True)


def where_equal(statement: Select[Any], model: Any, filters: dict[str, Any]) -> Select[Any]:
    for name, value in filters.items():
        statement = statement.where(getattr(model, name) == value)
    return statement
