"""Typed errors, each with the HTTP status it answers as, and where a validation error
lies in the client's own names; ``kit.http`` turns them into ``application/problem+json``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, Self, TypeVar

from pydantic import BaseModel

PROBLEM_JSON = "application/problem+json"
T = TypeVar("T")


class Problem(BaseModel):
    """RFC 9457 problem details, as every error response carries them."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[dict[str, Any]] | None = None


class ProblemError(Exception):
    status: int = 500

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class BadRequest(ProblemError):
    """A body that cannot even be parsed (not UTF-8, not JSON)."""

    status = 400


class RequestTimeout(ProblemError):
    """A body that arrived too slowly (kit/limits.py)."""

    status = 408


class ContentTooLarge(ProblemError):
    """A body over the size limit (kit/limits.py, and a trigger's own)."""

    status = 413


class ValidationFailed(ProblemError):
    """422. ``errors`` (``{loc, msg, type}`` each, as for a request that does not parse)
    names each bad value where the client wrote it, when a rule beyond the schema's (a
    template's prompts) refuses several values at once."""

    status = 422

    def __init__(self, detail: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.errors = errors

    @classmethod
    def at(cls, loc: str | Sequence[str | int], message: str) -> Self:
        """One refused value of the request's body, named where the client wrote it:
        ``loc`` its field, or the path to it."""
        path = [loc] if isinstance(loc, str) else list(loc)
        where = ".".join(str(part) for part in path)
        return cls(
            f"{where}: {message}",
            [{"loc": ["body", *path], "msg": message, "type": "value_error"}],
        )


class Unauthorized(ProblemError):
    status = 401


class Forbidden(ProblemError):
    status = 403


class NotFound(ProblemError):
    status = 404


class Conflict(ProblemError):
    status = 409


class RateLimited(ProblemError):
    status = 429

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class ServiceUnavailable(ProblemError):
    status = 503


def found(row: T | None, missing: str) -> T:
    """``row``, or NotFound saying ``missing`` ("host 7 does not exist")."""
    if row is None:
        raise NotFound(missing)
    return row


class OperationFailed(Exception):
    """An expected failure of work done outside a request (a backup that cannot be
    written, a database behind its migrations): the command prints it as one line and
    exits 1."""


# What every authenticated route can answer before it does anything.
AUTH_ERRORS = (Unauthorized, Forbidden)


def problem_responses(*errors: type[ProblemError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` for a route: each error it can raise, as problem+json."""
    schema = Problem.model_json_schema()
    return {
        error.status: {
            "content": {PROBLEM_JSON: {"schema": schema}},
            "description": HTTPStatus(error.status).phrase,
        }
        for error in errors
    }


def wire_location(error: Mapping[str, Any], sent: object) -> list[str | int]:
    """Where a validation error is, in the names the client wrote: the member names and list
    indices of pydantic's ``loc`` that lead through ``sent`` (the client's input). Pydantic
    also puts in its own description of each type it tried (``IPv4Address``,
    ``function-after[...]``, one per member of a union): that names nothing the client
    wrote, and is left out. A ``missing`` error's last entry names the field that is absent
    from the input, and is kept."""
    loc: Sequence[str | int] = error["loc"]
    missing = error["type"] == "missing"
    place: list[str | int] = []
    here = sent
    for part in loc[:-1] if missing else loc:
        member = isinstance(here, Mapping) and isinstance(part, str) and part in here
        index = isinstance(here, list) and isinstance(part, int) and 0 <= part < len(here)
        if member or index:
            place.append(part)
            here = here[part]  # type: ignore[index]
    if missing and loc:
        place.append(loc[-1])
    return place
