"""The playbooks wire format."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Self

from pydantic import Field, StrictBool, StringConstraints, model_validator

from opsledger.kit.filtering import ListQuery
from opsledger.kit.schemas import RequestSchema, ResponseSchema, Text, UpdateSchema, Variables

PlaybookName = Annotated[
    str, StringConstraints(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._-]*$")
]
TagList = Annotated[
    list[Annotated[str, StringConstraints(min_length=1, max_length=50)]], Field(max_length=50)
]
MAX_PLAYBOOK_BYTES = 1024 * 1024


class PlaybookCreate(RequestSchema):
    """Register a file under the playbook root (``file_path``), or upload its
    ``content``; exactly one of the two."""

    name: PlaybookName
    file_path: Annotated[str, StringConstraints(min_length=1, max_length=500)] | None = None
    content: (
        Annotated[str, StringConstraints(min_length=1, max_length=MAX_PLAYBOOK_BYTES)] | None
    ) = None
    description: Text | None = None
    tags: TagList | None = None
    variables: Variables | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.file_path is None) == (self.content is None):
            raise ValueError("give exactly one of file_path and content")
        return self


class PlaybookUpdate(UpdateSchema):
    nullable = frozenset({"description", "tags", "variables"})

    name: PlaybookName | None = None
    description: Text | None = None
    tags: TagList | None = None
    variables: Variables | None = None
    is_active: StrictBool | None = None  # true or false only, as the schema says


class PlaybookRead(ResponseSchema):
    id: int
    name: str
    description: str | None
    file_path: str
    file_hash: str
    tags: list[str] | None
    variables: dict[str, Any] | None
    is_active: bool
    created_at: datetime
    updated_at: datetime


class PlaybookVerification(ResponseSchema):
    id: int
    file_path: str
    file_hash: str
    current_hash: str | None = Field(description="Null when the file is missing or unreadable.")
    matches: bool


class PlaybookQuery(ListQuery):
    name: PlaybookName | None = None
    is_active: bool | None = None
