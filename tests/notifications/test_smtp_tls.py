"""Mail over TLS to a real SMTP server on loopback (aiosmtpd): implicit TLS, and STARTTLS
with a login the server only takes once the connection is encrypted; the server's
certificate is checked against OPSLEDGER_SMTP_CA_FILE, and one no CA vouches for is a
failed attempt, never a plain-text fallback."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import SecretStr

from opsledger.config import SmtpSecurity
from opsledger.db.session import session_factory, unit_of_work
from opsledger.notifications import service
from opsledger.notifications.schemas import ChannelCreate
from opsledger.security.context import system_context
from tests.factories import unique
from tests.notifications.conftest import Lab, Mailbox, free_port

PASSWORD = "a-relay-password"


def certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1: (certificate file, key file)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "opsledger test relay")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "relay.pem", directory / "relay.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def _login(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and data.password == PASSWORD.encode()
    return AuthResult(success=ok)


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[tuple[Mailbox, Path, dict[str, Controller]]]:
    """Two servers with one certificate, each requiring a login: implicit TLS, and
    STARTTLS (no login before it)."""
    cert_file, key_file = certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    box = Mailbox()
    servers = {
        "tls": Controller(
            box,
            hostname="127.0.0.1",
            port=free_port(),
            ssl_context=context,
            authenticator=_login,
            auth_require_tls=False,  # the whole connection is TLS
            auth_required=True,
        ),
        "starttls": Controller(
            box,
            hostname="127.0.0.1",
            port=free_port(),
            tls_context=context,
            require_starttls=True,
            authenticator=_login,
            auth_require_tls=True,
            auth_required=True,
        ),
    }
    for server in servers.values():
        server.start()
    yield box, cert_file, servers
    for server in servers.values():
        server.stop()


# aiosmtpd cannot tell that an implicit-TLS socket is encrypted, and says so.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.backends("sqlite")  # the sender, not the outbox: one backend is enough
@pytest.mark.parametrize("security", ["tls", "starttls"])
async def test_mail_goes_over_tls_to_a_relay_whose_certificate_is_checked(
    lab: Lab, relay: tuple[Mailbox, Path, dict[str, Controller]], security: str
) -> None:
    box, cert_file, servers = relay
    address = f"{unique('oncall')}@example.com"
    site = {
        "smtp_host": "127.0.0.1",
        "smtp_port": servers[security].port,
        "smtp_security": SmtpSecurity(security),
        "smtp_username": "opsledger",
        "smtp_password": SecretStr(PASSWORD),
    }
    trusted = lab.settings.model_copy(update=site | {"smtp_ca_file": cert_file})
    untrusted = lab.settings.model_copy(update=site)

    async def test_message(settings: Any) -> Any:
        async with unit_of_work(session_factory(lab.engine)) as session:
            ctx = system_context(session, settings, "smtp-test")
            body = ChannelCreate.model_validate(
                {"name": unique("mail"), "kind": "email", "to": [address]}
            )
            channel = await service.create_channel(ctx, body)
            return await service.test_channel(ctx, channel.id)

    refused = await test_message(untrusted)
    sent = await test_message(trusted)

    assert not refused.ok
    assert "CERTIFICATE_VERIFY_FAILED" in (refused.error or "")
    assert sent.ok, sent.error
    assert sent.response_status == 250
    assert len(box.to(address)) == 1
