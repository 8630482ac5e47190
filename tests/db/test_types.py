"""Column types: encrypted strings, UTC datetimes and JSON members behave the same on every
backend."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import select, text
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.config import Settings
from opsledger.db.types import member_text
from opsledger.models import Credential, Host, Secret
from opsledger.security.crypto import (
    PBKDF2_ITERATIONS,
    KeyRing,
    KeyRingError,
    install_key_ring,
)
from tests import factories as f


@pytest.fixture
def swap_key_ring(key_ring: KeyRing) -> Iterator[None]:
    """Lets a test install other rings; the session's ring comes back afterwards."""
    yield
    install_key_ring(key_ring)


async def raw_value(session: AsyncSession, table: str, row_id: int) -> str:
    statement = text(f"SELECT value FROM {table} WHERE id = :id")
    return str(await session.scalar(statement, {"id": row_id}))


async def test_an_encrypted_column_never_stores_the_plaintext(session: AsyncSession) -> None:
    user = await f.make_user(session)
    first = await f.make_secret(session, user, value="AKIA-EXAMPLE-123")
    second = await f.make_secret(session, user, value="AKIA-EXAMPLE-123")

    raw_first = await raw_value(session, "secrets", first.id)
    raw_second = await raw_value(session, "secrets", second.id)

    assert raw_first.startswith("gAAAAA")
    assert raw_second.startswith("gAAAAA")
    assert raw_first != raw_second
    assert "AKIA" not in raw_first
    read_back = select(Secret.value).where(Secret.id == first.id)
    assert await session.scalar(read_back) == "AKIA-EXAMPLE-123"


async def test_a_credential_value_is_encrypted_at_rest(session: AsyncSession) -> None:
    credential = await f.make_credential(session, await f.make_host(session), value="hunter2")
    assert (await raw_value(session, "credentials", credential.id)).startswith("gAAAAA")
    read_back = select(Credential.value).where(Credential.id == credential.id)
    assert await session.scalar(read_back) == "hunter2"


@pytest.mark.usefixtures("swap_key_ring")
async def test_values_written_under_an_old_key_read_after_a_new_key_is_put_first(
    session: AsyncSession,
) -> None:
    old_key, new_key = Fernet.generate_key(), Fernet.generate_key()
    install_key_ring(KeyRing([old_key]))
    secret = await f.make_secret(session, await f.make_user(session), value="old-times")
    read_back = select(Secret.value).where(Secret.id == secret.id)

    install_key_ring(KeyRing([new_key, old_key]))
    assert await session.scalar(read_back) == "old-times"

    install_key_ring(KeyRing([new_key]))
    with pytest.raises(KeyRingError) as caught:
        await session.scalar(read_back)
    assert "old-times" not in str(caught.value)


def test_a_password_derived_key_is_derived_once_and_reproducibly() -> None:
    settings = Settings(
        encryption_password=SecretStr("correct horse"), encryption_salt=SecretStr("pepper")
    )
    token = KeyRing.from_settings(settings).encrypt("payload")

    assert PBKDF2_ITERATIONS >= 600_000
    assert KeyRing.from_settings(settings).decrypt(token) == "payload"
    other_salt = settings.model_copy(update={"encryption_salt": SecretStr("salt")})
    with pytest.raises(KeyRingError):
        KeyRing.from_settings(other_salt).decrypt(token)


def test_keys_are_read_newest_first_from_a_comma_separated_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    new, old = Fernet.generate_key(), Fernet.generate_key()
    monkeypatch.setenv("OPSLEDGER_ENCRYPTION_KEYS", f"{new.decode()}, {old.decode()}")
    ring = KeyRing.from_settings(Settings())
    token = ring.encrypt("x")
    assert Fernet(new).decrypt(token.encode()) == b"x"
    assert ring.decrypt(KeyRing([old]).encrypt("y")) == "y"


def test_a_malformed_key_is_refused_without_echoing_it() -> None:
    with pytest.raises(KeyRingError) as caught:
        KeyRing([b"not-a-fernet-key"])
    assert "not-a-fernet-key" not in str(caught.value)


async def test_an_aware_datetime_comes_back_equal_aware_and_in_utc(session: AsyncSession) -> None:
    kolkata = timezone(timedelta(hours=5, minutes=30))
    moment = datetime(2026, 3, 1, 9, 15, 30, 123456, tzinfo=kolkata)
    host = await f.make_host(session, status_changed_at=moment)

    stored = await session.scalar(select(Host.status_changed_at).where(Host.id == host.id))

    assert stored == moment
    assert stored is not None
    assert stored.tzinfo is UTC
    assert stored.microsecond == 123456


@pytest.mark.backends("sqlite")
async def test_every_form_of_stored_text_reads_as_the_same_aware_utc_moment(
    session: AsyncSession,
) -> None:
    """SQLite stores text: what SQLAlchemy writes, and what a hand or a default may write
    (no fraction, a date alone, a T and a Z), each read as the moment it names, in UTC."""
    forms = {
        "2026-03-01 09:15:30.123456": datetime(2026, 3, 1, 9, 15, 30, 123456, tzinfo=UTC),
        "2026-03-01 09:15:30": datetime(2026, 3, 1, 9, 15, 30, tzinfo=UTC),
        "2026-03-01": datetime(2026, 3, 1, tzinfo=UTC),
        "2026-03-01T09:15:30Z": datetime(2026, 3, 1, 9, 15, 30, tzinfo=UTC),
    }
    host = await f.make_host(session)
    for stored, moment in forms.items():
        await session.execute(
            text("UPDATE hosts SET status_changed_at = :at WHERE id = :id"),
            {"at": stored, "id": host.id},
        )
        read = await session.scalar(select(Host.status_changed_at).where(Host.id == host.id))
        assert read == moment, stored
        assert read is not None
        assert read.tzinfo is UTC


async def test_a_naive_datetime_is_refused(session: AsyncSession) -> None:
    naive = datetime(2026, 3, 1, 9, 15)
    with pytest.raises(StatementError) as caught:
        async with session.begin_nested():
            await f.make_host(session, status_changed_at=naive)
    assert isinstance(caught.value.orig, ValueError)


async def test_a_json_member_is_read_by_a_bound_name_never_spliced_into_sql(
    session: AsyncSession,
) -> None:
    name = "rack\"]') OR 1=1 --"
    host = await f.make_host(session, tags={name: True, "plain": "x"})
    statement = select(member_text(Host.tags, name)).where(Host.id == host.id)

    assert name not in str(statement.compile(session.get_bind()))
    assert await session.scalar(statement) == "true"
    missing = select(member_text(Host.tags, "rack")).where(Host.id == host.id)
    assert await session.scalar(missing) is None
