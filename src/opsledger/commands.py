"""What every ``opsledger`` command shares: consoles, one-line errors, running async work
against the configured database."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, NoReturn, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.config import Settings, safe_url
from opsledger.db.engine import create_engine, sqlite_file
from opsledger.db.session import session_factory, unit_of_work
from opsledger.kit.errors import OperationFailed, ProblemError, wire_location
from opsledger.security.context import Ctx, cli_context
from opsledger.security.crypto import KeyRing, KeyRingError, install_key_ring

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

SETTLE_SECONDS = 0.05
# An admin's way past a freeze window, on every command that launches (audited with it).
OverrideReasonOption = Annotated[
    str | None,
    typer.Option(
        "--override-reason",
        help="Launch inside a freeze window anyway; the reason is audited.",
    ),
]

out = Console()
err = Console(stderr=True)


def fail(message: str) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def _first_line(exc: BaseException | None) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


@contextmanager
def one_line_errors(settings: Settings | None = None) -> Iterator[None]:
    """Turn the failures a user can cause (bad settings, unreachable database, missing
    key, a refused change) into one readable line and exit code 1, never a traceback."""
    where = f" ({safe_url(settings.database_url)})" if settings else ""
    try:
        yield
    except ValidationError as exc:
        problems = "; ".join(
            f"OPSLEDGER_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in exc.errors()
        )
        fail(f"invalid configuration: {problems}")
    except DBAPIError as exc:
        fail(f"database error{where}: {_first_line(exc.orig)}")
    except OSError as exc:
        fail(f"cannot reach the database{where}: {_first_line(exc)}")
    except (KeyRingError, OperationFailed, ProblemError) as exc:
        fail(str(exc))


def parse(schema: type[M], data: dict[str, object]) -> M:
    """Validate command-line input with the API's own schema; a refusal is one line."""
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        fail(f"invalid input: {_problems(exc, data, 'input')}")


def parse_json(schema: type[M], raw: bytes) -> M:
    """Validate a JSON document with ``schema``; a refusal is one line, exit code 1."""
    try:
        return schema.model_validate_json(raw)
    except ValidationError as exc:
        try:
            document = json.loads(raw)
        except ValueError:  # not JSON at all: the one error says so, and names no place
            document = None
        fail(f"invalid file: {_problems(exc, document, 'document')}")


def _problems(exc: ValidationError, sent: object, whole: str, shown: int = 5) -> str:
    """The first few problems, each as ``where: what`` (``whole`` for the top level)."""
    return "; ".join(
        f"{'.'.join(str(p) for p in wire_location(e, sent)) or whole}: {e['msg']}"
        for e in exc.errors()[:shown]
    )


def load_settings() -> Settings:
    with one_line_errors():
        return Settings().with_key_file()
    raise AssertionError("unreachable")  # pragma: no cover - fail() always exits


def install_keys(settings: Settings) -> KeyRing:
    with one_line_errors():
        ring = KeyRing.from_settings(settings)
        install_key_ring(ring)
        return ring
    raise AssertionError("unreachable")  # pragma: no cover


def install_configured_keys(settings: Settings) -> None:
    """Install the key ring when keys are configured, for commands that can do without:
    reads need none, and audit rows (written or verified) then have OPSLEDGER_AUDIT_KEY
    alone, or fail with one line."""
    if settings.has_encryption_key:
        install_keys(settings)


def run(
    settings: Settings, work: Callable[[AsyncEngine], Awaitable[T]], *, creates: bool = False
) -> T:
    """Run ``work`` against a fresh engine for ``settings``, with one-line errors. Only a
    command that ``creates`` the schema (``up``, ``db upgrade``, ``restore``) may open a
    SQLite file that does not exist: opening it makes an empty one, which every other
    command (and ``serve``) would then take for a database."""
    database = sqlite_file(settings.database_url)
    if not creates and database is not None and not database.exists():
        fail(f"no database at {database}: `opsledger up` creates one, or `opsledger db upgrade`")

    async def main() -> T:
        engine = create_engine(settings)
        try:
            return await work(engine)
        except BaseException:
            # aiosqlite 0.22 closes a connection that failed to open from its worker
            # thread after the error reached us; keep the loop alive a moment for that
            # thread, or it prints a traceback when the loop is gone.
            await asyncio.sleep(SETTLE_SECONDS)
            raise
        finally:
            await engine.dispose()

    with one_line_errors(settings):
        return asyncio.run(main())
    raise AssertionError("unreachable")  # pragma: no cover


def run_in_context(settings: Settings, work: Callable[[Ctx], Awaitable[T]]) -> T:
    """Run a service call in one unit of work, acting as the local OS user (whose
    changes are audited, so the keys are installed)."""
    install_configured_keys(settings)

    async def in_unit(engine: AsyncEngine) -> T:
        async with unit_of_work(session_factory(engine)) as session:
            return await work(cli_context(session, settings))

    return run(settings, in_unit)
