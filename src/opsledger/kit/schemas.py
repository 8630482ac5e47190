"""Schema bases: requests forbid unknown fields; responses read from ORM rows."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class RequestSchema(BaseModel):
    """A request body: unknown fields (``id``, ``role``, ``password_hash`` …) are refused,
    so nothing server-managed can be written from outside."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ResponseSchema(BaseModel):
    model_config = ConfigDict(from_attributes=True)
