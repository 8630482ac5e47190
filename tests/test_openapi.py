"""schemathesis against the app's own OpenAPI, served by uvicorn on loopback and called as
an admin: no 5xx for anything generated, every status code and body as documented.

The schema is read from the app when the module is collected, so every operation is a
test item of its own (reported by name, spread over xdist workers); the server it calls
runs on a database of its own per backend."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from pydantic import SecretStr
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.exc import OperationalError

from opsledger import migrations
from opsledger.app import create_app
from opsledger.config import Settings
from opsledger.db.engine import create_engine
from opsledger.db.session import session_factory, unit_of_work
from opsledger.host_roles.service import seed_defaults
from opsledger.security import tokens
from opsledger.users.models import User, UserRole
from tests.api import ENCRYPTION_KEY, JWT_SECRET, openapi_document, password_hash
from tests.conftest import DATABASE_PREFIX
from tests.databases import backends_required, create_database, drop_database
from tests.e2e.cli import free_port

# Generated examples per operation and mode, after schemathesis' coverage phase, which
# sends each field's boundary values (the empty, longest and oddest strings, the smallest
# and largest numbers) whatever this is: those are what tell the backends apart. Five, not
# ten: this module was a fifth of the whole suite's time on a 2-core machine (740 of 3,583
# worker-seconds); the coverage phase is unchanged.
EXAMPLES = 5
# A generated Alertmanager delivery can carry a thousand alerts, each an audited row: on a
# loaded 2-core machine that has taken longer than schemathesis' default of 10 s.
REQUEST_TIMEOUT = 60
# Every answer is documented and none is a 5xx, whatever is sent. Not asked yet: that
# every schema-violating request is refused (schemathesis' negative_data_rejection).
# Pydantic's lax mode takes "5" and true where the schema says integer (and took the
# number 0 as an IP address, fixed): request bodies are to be made strict about JSON
# types first.
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


async def prepare(url: str) -> int:
    engine = create_engine(Settings(database_url=url))
    await migrations.upgrade(engine)
    async with unit_of_work(session_factory(engine)) as session:
        await seed_defaults(session)
        admin = User(
            username="fuzz-admin",
            email="fuzz@example.com",
            password_hash=password_hash(),
            role=UserRole.admin,
        )
        session.add(admin)
        await session.flush()
        admin_id = admin.id
    await engine.dispose()
    return admin_id


@dataclass
class Served:
    """Where the server listens, and the admin every example acts as."""

    url: str
    admin_id: int
    token_version: int = 0

    def headers(self) -> dict[str, str]:
        token = tokens.issue(self.admin_id, self.token_version, JWT_SECRET, timedelta(hours=1))
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def served(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The real server on a loopback port, on a database of its own."""
    directory = tmp_path_factory.mktemp("openapi")
    try:
        url = asyncio.run(create_database(backend, f"{DATABASE_PREFIX}_openapi", directory))
    except (OSError, OperationalError) as exc:
        if backends_required():
            pytest.fail(f"{backend} is not reachable: {exc}")
        pytest.skip(f"{backend} is not reachable: {exc}")
    admin_id = asyncio.run(prepare(url))
    app_settings = Settings(
        database_url=url,
        # The session's key: the app installs its ring for the whole worker process.
        encryption_keys=[SecretStr(ENCRYPTION_KEY)],
        jwt_secret=SecretStr(JWT_SECRET),
        playbook_root=Path(directory / "playbooks"),
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(app_settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            pytest.fail("the server did not start")
        time.sleep(0.05)
    yield Served(f"http://127.0.0.1:{port}", admin_id)
    server.should_exit = True
    thread.join(timeout=10)
    asyncio.run(drop_database(backend, url))


def operations(mode: GenerationMode) -> schemathesis.BaseSchema:
    """The operations, generated in ``mode``; the stream follows a job until it ends,
    which a generated job never does (its contract is tested in tests/jobs/test_follow.py)."""
    schema = schemathesis.openapi.from_dict(openapi_document()).exclude(path_regex=r"/logs/stream$")
    schema.config.generation.update(modes=[mode])
    return schema


def call(case: schemathesis.Case, served: Served) -> None:
    response = case.call_and_validate(
        base_url=served.url, headers=served.headers(), checks=CHECKS, timeout=REQUEST_TIMEOUT
    )
    if case.path.endswith("/auth/logout-all") and response.status_code == 204:
        served.token_version += 1  # that ended every token issued before: sign the next anew


# Schema-valid examples reach the database, so they run on every backend; schema-violating
# ones are refused before any query (that is what they test), so one backend suffices, and
# the strictest fast one: PostgreSQL refuses what SQLite would store (a value too long).
valid = operations(GenerationMode.POSITIVE)
# The probes take nothing at all: there is nothing of theirs to send wrong.
invalid = operations(GenerationMode.NEGATIVE).exclude(path=["/healthz", "/readyz", "/metrics"])


@valid.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_valid_requests_answer_as_documented(case: schemathesis.Case, served: Served) -> None:
    call(case, served)


@pytest.mark.backends("postgresql")
@invalid.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_invalid_requests_are_refused_as_documented(
    case: schemathesis.Case, served: Served
) -> None:
    call(case, served)
