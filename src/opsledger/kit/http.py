"""What of ``kit`` only HTTP needs: problem+json answers, the handlers that turn every
failure into one, and path parameter types. Kept apart so the CLI never loads FastAPI."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Annotated, Any

from fastapi import FastAPI, Path, Request
from fastapi._compat import field_annotation_is_sequence
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from opsledger.kit.errors import (
    PROBLEM_JSON,
    Problem,
    ProblemError,
    RateLimited,
    ValidationFailed,
    wire_location,
)
from opsledger.kit.schemas import MAX_ID

log = logging.getLogger(__name__)

PathId = Annotated[int, Path(ge=1, le=MAX_ID)]


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


def _single_valued(dependant: Dependant) -> set[str]:
    """The query keys a route and its dependencies read one value of: every field of a
    query model (FastAPI spreads a model's fields over the query) or plain parameter that
    FastAPI does not read as a list, by the same test FastAPI uses to choose."""
    names: set[str] = set()
    for field in dependant.query_params:
        annotation = field.field_info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            members = list(annotation.model_fields.items())
        else:
            members = [(field.alias, field.field_info)]
        names.update(
            info.alias or name
            for name, info in members
            if not field_annotation_is_sequence(info.annotation)
        )
    for sub_dependant in dependant.dependencies:
        names |= _single_valued(sub_dependant)
    return names


REPEATED = "given more than once; this parameter takes one value"


async def single_valued_query(request: Request) -> None:
    """Refuse a query that gives a single-valued parameter more than once
    (``?name=a&name=b``): FastAPI would answer from the last value as if the others had not
    been sent. List parameters may repeat. Every route depends on this (``create_app``), so
    it runs before the route's own dependencies, authentication included: like a body that
    does not parse, an ambiguous query is refused before anything else is asked of it."""
    query = request.query_params
    if len(query.multi_items()) == len(query):
        return  # no key repeats: the common case costs one comparison
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    single = _single_valued(route.dependant)
    repeated = [key for key in query if key in single and len(query.getlist(key)) > 1]
    if repeated:
        raise RequestValidationError(
            [
                {
                    "loc": ("query", key),
                    "msg": REPEATED,
                    "type": "repeated_value",
                }
                for key in repeated
            ]
        )


def install_error_handlers(app: FastAPI) -> None:
    async def on_problem(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ProblemError)
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
        errors = exc.errors if isinstance(exc, ValidationFailed) else None
        return problem_response(exc.status, exc.detail, errors=errors, headers=headers)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        # What the client sent, under the first entry of FastAPI's loc.
        sent = {
            "body": exc.body,
            "query": request.query_params,
            "path": request.path_params,
            "header": request.headers,
            "cookie": request.cookies,
        }
        # Input echoes are dropped: a rejected field may hold a password or a key.
        errors = [
            {
                "loc": wire_location(error, sent),
                "msg": error["msg"],
                "type": error["type"],
            }
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

    async def on_unavailable(_request: Request, exc: Exception) -> JSONResponse:
        # The database could not do it now: locked past the busy timeout, read-only, out
        # of disk, unreachable. Not the client's fault; logged in full for the operator.
        log.error("database unavailable: %s", exc)
        return problem_response(503, "the database is unavailable; try again shortly")

    async def on_unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled %s", type(exc).__name__, exc_info=exc)
        return problem_response(500, "an internal error occurred; it has been logged")

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(IntegrityError, on_integrity)
    # Any other refusal by the database (IntegrityError, a subclass, is matched first).
    app.add_exception_handler(DBAPIError, on_unavailable)
    app.add_exception_handler(Exception, on_unexpected)
