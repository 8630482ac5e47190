"""Typed errors and the one handler that turns them into ``application/problem+json``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
T = TypeVar("T")

log = logging.getLogger(__name__)


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


def problem_response(
    status: int,
    detail: str,
    errors: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = Problem(title=HTTPStatus(status).phrase, status=status, detail=detail, errors=errors)
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


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


def install_error_handlers(app: FastAPI) -> None:
    async def on_problem(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ProblemError)
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
        return problem_response(exc.status, exc.detail, headers=headers)

    async def on_validation(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        # Input echoes are dropped: a rejected field may hold a password or a key.
        errors = [
            {"loc": list(error["loc"]), "msg": error["msg"], "type": error["type"]}
            for error in exc.errors()
        ]
        return problem_response(422, "the request is not valid", errors=errors)

    async def on_http(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        return problem_response(exc.status_code, str(exc.detail), headers=exc.headers)

    async def on_integrity(_request: Request, exc: Exception) -> JSONResponse:
        # A unique or foreign-key rule the service did not pre-check, or lost a race on.
        # The driver's message quotes the row's values, so it stays out of the answer.
        log.info("integrity error: %s", type(exc).__name__)
        return problem_response(409, "the change conflicts with the current data")

    async def on_unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled %s", type(exc).__name__, exc_info=exc)
        return problem_response(500, "an internal error occurred; it has been logged")

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(IntegrityError, on_integrity)
    app.add_exception_handler(Exception, on_unexpected)
