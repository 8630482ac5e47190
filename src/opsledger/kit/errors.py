"""Typed errors, each with the HTTP status it answers as; ``kit.problems`` turns them into
``application/problem+json``."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, TypeVar

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


class ValidationFailed(ProblemError):
    status = 422


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
