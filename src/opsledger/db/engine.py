"""Engines per backend: pool settings, SQLite pragmas and explicit transaction starts."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, ExceptionContext, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from opsledger.config import Settings
from opsledger.kit.errors import ServiceUnavailable

# Execution option naming the BEGIN a SQLite transaction starts with. Writers take the
# write lock up front (IMMEDIATE), so two writers queue on the busy timeout instead of
# failing with "database is locked" when a deferred reader tries to upgrade its lock.
SQLITE_BEGIN = "opsledger_sqlite_begin"
FILE_ID = "opsledger_file_id"  # the SQLite file a pooled connection opened (device, inode)
RETURNED_AT = "opsledger_returned_at"  # when a pooled connection was last given back

log = logging.getLogger(__name__)


def create_engine(settings: Settings, url: str | None = None) -> AsyncEngine:
    url = url or settings.database_url
    backend = make_url(url).get_backend_name()
    # A SQLite file cannot drop a connection the way a server can: no ping needed.
    # hide_parameters: a failed statement's message (logged, never answered) must not
    # carry the row's values.
    options: dict[str, Any] = {"hide_parameters": True}
    if not (backend == "sqlite" and _is_memory(url)):
        options |= {
            "pool_size": settings.pool_size,
            "max_overflow": settings.max_overflow,
            "pool_timeout": settings.pool_timeout,
            "pool_recycle": settings.pool_recycle,
        }
    if backend == "mysql":
        # Stored datetimes are UTC; make the session agree so NOW() and friends do too.
        options["connect_args"] = {"init_command": "SET time_zone = '+00:00'"}
    engine = create_async_engine(url, **options)
    if settings.pool_pre_ping and backend != "sqlite":
        _ping_after_idle(engine, settings.pool_ping_after_seconds)
    if backend == "sqlite":
        _configure_sqlite(engine, settings.sqlite_busy_timeout_ms, sqlite_file(url))
    if backend == "mysql":
        _configure_mysql(engine)
    return engine


def _ping_after_idle(engine: AsyncEngine, idle_seconds: float) -> None:
    """Ping a pooled connection before use when it has been idle ``idle_seconds`` or
    longer; a dead one is replaced (the pool takes DisconnectionError as "open another").
    SQLAlchemy's pool_pre_ping pings before every use: a round trip per request."""
    pool = engine.sync_engine.pool
    dialect = engine.sync_engine.dialect

    @event.listens_for(pool, "checkin")
    def _returned(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info[RETURNED_AT] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _taken(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        returned = record.info.get(RETURNED_AT)
        if returned is None or time.monotonic() - returned < idle_seconds:
            return  # just opened, or in steady use
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as failure:
            raise DisconnectionError(f"a pooled connection was dead: {failure}") from failure


def _is_memory(url: str) -> bool:
    database = make_url(url).database
    return database in (None, "", ":memory:")


def sqlite_file(url: str | URL) -> Path | None:
    """The database file of a SQLite URL; None for another backend, memory or a URI."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or database in (None, "", ":memory:"):
        return None
    assert database is not None
    return None if database.startswith("file:") else Path(database)


SQLITE_FILES = ("", "-wal", "-shm")


def owner_only(database: Path | None) -> None:
    """The database file and its WAL and shared-memory files readable by their owner only:
    they hold every row (ciphertext of secrets, key hashes, the audit trail). SQLite makes
    -wal and -shm with the database file's mode, so this runs before WAL is switched on."""
    if database is None:
        return
    for suffix in SQLITE_FILES:
        path = Path(f"{database}{suffix}")
        try:
            if path.exists() and path.stat().st_mode & 0o077:
                path.chmod(0o600)
        except PermissionError:
            log.warning("cannot make %s readable by its owner only: not its owner", path)


def _file_id(path: Path) -> tuple[int, int] | None:
    try:
        found = path.stat()
    except FileNotFoundError:
        return None
    return found.st_dev, found.st_ino


def _configure_sqlite(engine: AsyncEngine, busy_timeout_ms: int, database: Path | None) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        owner_only(database)
        if database is not None:
            record.info[FILE_ID] = _file_id(database)
        # Hand transaction control to SQLAlchemy (see the "begin" hook below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get(SQLITE_BEGIN, "IMMEDIATE")
        # A file deleted or replaced under the server: SQLite would go on writing to the
        # unlinked inode, and every change would vanish when the server stops.
        if (
            database is not None
            and mode == "IMMEDIATE"
            and _file_id(database) != connection.connection.info.get(FILE_ID)
        ):
            raise ServiceUnavailable(
                f"the database file {database} was deleted or replaced while the "
                "server ran: restart it (nothing more is written)"
            )
        if mode != "NONE":
            connection.exec_driver_sql(f"BEGIN {mode}")


# MariaDB reports a failed CHECK constraint as error 4025, which the driver files under
# OperationalError; on SQLite and PostgreSQL it is an IntegrityError, as it should be.
MYSQL_CHECK_CONSTRAINT_FAILED = 4025


def _configure_mysql(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "handle_error")
    def _check_failure_is_integrity_error(context: ExceptionContext) -> None:
        original = context.original_exception
        if getattr(original, "args", (None,))[0] == MYSQL_CHECK_CONSTRAINT_FAILED:
            raise IntegrityError(context.statement, context.parameters, original) from original


class _DropPrimaryKeyNameNotes(logging.Filter):
    """MySQL names every primary key PRIMARY and says so for each table a migration makes."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "ignored for PRIMARY key" not in record.getMessage()


logging.getLogger("asyncmy").addFilter(_DropPrimaryKeyNameNotes())


def reader(engine: AsyncEngine) -> AsyncEngine:
    """The same engine for read-only work. On PostgreSQL and SQLite its statements run
    without a transaction around them: each sees what had committed when it began, as it
    would in a READ COMMITTED transaction, and the BEGIN and COMMIT round trips are saved
    (on PostgreSQL a third of the driver's work in a read by id, bench/request_path.py; on
    SQLite, where each is a hop to aiosqlite's thread, 1.3 ms of a 2.1 ms session). SQLite
    takes no write lock for it. MariaDB keeps its transaction: it sends no BEGIN, and
    switching autocommit on and back off would cost a round trip each way."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    if engine.dialect.name == "sqlite":
        return engine.execution_options(**{SQLITE_BEGIN: "NONE"})
    return engine


def outside_transactions(connection: Connection) -> bool:
    """Whether each statement on ``connection`` commits on its own (a ``reader``'s on
    PostgreSQL and SQLite): a lock it takes ends with the statement."""
    options = connection.get_execution_options()
    return options.get("isolation_level") == "AUTOCOMMIT" or options.get(SQLITE_BEGIN) == "NONE"


def snapshot(engine: AsyncEngine) -> AsyncEngine:
    """The engine for reads that must see one moment across many statements (a backup, a
    walk of the audit chain), where PostgreSQL's READ COMMITTED would let each statement
    see newer commits: SQLite's WAL read transaction already is a snapshot."""
    if engine.dialect.name == "sqlite":
        return engine.execution_options(**{SQLITE_BEGIN: "DEFERRED"})
    return engine.execution_options(isolation_level="REPEATABLE READ")


# What a database answers when it gave up a transaction to let another go on: a
# deadlock (InnoDB's 1213, PostgreSQL's 40P01), a lock wait timeout (1205) or a
# serialization failure (40001). Trying again later is the answer.
TRANSIENT_MYSQL = frozenset({1205, 1213})
TRANSIENT_SQLSTATES = frozenset({"40001", "40P01"})


def transient(exc: DBAPIError) -> bool:
    original = exc.orig
    code = original.args[0] if original is not None and original.args else None
    sqlstate = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    return code in TRANSIENT_MYSQL or sqlstate in TRANSIENT_SQLSTATES
