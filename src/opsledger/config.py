"""Settings: every knob is an ``OPSLEDGER_*`` environment variable or ``.env`` entry."""

from __future__ import annotations

import ipaddress
import os
import secrets
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from cryptography.fernet import Fernet
from dotenv import dotenv_values
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./opsledger.db"
# An HMAC key shorter than this could be guessed offline from the chain it signs.
MIN_AUDIT_KEY_LENGTH = 32

# The one async driver we support per backend, keyed by what a user may write.
_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
    "mysql": "mysql+asyncmy",
    "mariadb": "mysql+asyncmy",
    "mysql+asyncmy": "mysql+asyncmy",
    "mariadb+asyncmy": "mysql+asyncmy",
}


class JobBackend(StrEnum):
    embedded = "embedded"
    celery = "celery"


class SmtpSecurity(StrEnum):
    """How notification mail reaches the SMTP server."""

    starttls = "starttls"  # plain connection upgraded by STARTTLS (port 587)
    tls = "tls"  # TLS from the first byte (port 465)
    none = "none"  # no encryption: a relay on the same machine only


class JobSandbox(StrEnum):
    """How a playbook's process is confined (README, "The job sandbox")."""

    # Its own mount, PID, IPC and UTS namespaces (bubblewrap): it sees the system, Python,
    # the playbook root and its own run directory, nothing of the server's.
    bwrap = "bwrap"
    # No confinement beyond a clean environment: for development only, refused as root.
    none = "none"


class JobNetwork(StrEnum):
    """What a playbook's process reaches from the controller, under bubblewrap."""

    # Nothing but its own hosts' SSH ports, through the run's relay (worker/relay.py).
    ssh = "ssh"
    # The controller's network, loopback and its services included: for playbooks whose
    # controller-side tasks must call out (``delegate_to: localhost`` with ``uri``).
    host = "host"


def normalize_database_url(value: str) -> str:
    """Map ``postgresql://``, ``mysql://`` … to the async driver opsledger ships with.

    Anything else is refused with a message that never echoes a password.
    """
    try:
        url = make_url(value)
    except ArgumentError:
        raise ValueError("not a database URL (expected e.g. sqlite:///./opsledger.db)") from None
    driver = _ASYNC_DRIVERS.get(url.drivername)
    if driver is None:
        raise ValueError(
            f"unsupported database backend {url.drivername!r}: "
            "use sqlite, postgresql or mysql/mariadb"
        )
    return url.set(drivername=driver).render_as_string(hide_password=False)


def safe_url(url: str | URL) -> str:
    """A database URL fit for messages and logs: the password is masked."""
    return make_url(url).render_as_string(hide_password=True)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="OPSLEDGER_", env_file=".env", extra="ignore", hide_input_in_errors=True
    )

    database_url: str = DEFAULT_DATABASE_URL
    database_replica_url: str | None = None
    # Pool 10 with 20 overflow; wait 30 s for a connection, recycle hourly. A connection
    # idle longer than pool_ping_after_seconds is pinged before it is used again (a
    # server restart or a proxy's idle timeout drops idle ones); one in steady use is
    # not, which saves a round trip per request (a dead one found mid-use invalidates
    # the whole pool). 0 pings before every use; pool_pre_ping=false never.
    pool_size: int = Field(10, ge=1)
    max_overflow: int = Field(20, ge=0)
    pool_timeout: float = Field(30.0, gt=0)
    pool_recycle: int = Field(3600, ge=-1)
    pool_pre_ping: bool = True
    pool_ping_after_seconds: float = Field(5.0, ge=0)
    sqlite_busy_timeout_ms: int = Field(30_000, ge=0)

    # Newest key first. Comma-separated in the environment.
    encryption_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    encryption_password: SecretStr | None = None
    encryption_salt: SecretStr | None = None
    # Signs the audit chain instead of a key derived from the newest encryption key (see
    # audit/keys.py for why it wins when set); at least 32 characters.
    audit_key: SecretStr | None = None
    # Where `opsledger up` keeps generated secrets when none are configured.
    key_file: Path = Path("opsledger.key")

    jwt_secret: SecretStr | None = None
    jwt_lifetime_minutes: int = Field(30, ge=1, le=24 * 60)

    # bcrypt cost: 12 is the floor the requirements set; each step doubles the work.
    bcrypt_rounds: int = Field(12, ge=12, le=16)
    password_min_length: int = Field(12, ge=8, le=72)
    # Failed logins allowed per username and per client address within the window.
    login_max_failures: int = Field(5, ge=1)
    login_max_failures_per_ip: int = Field(20, ge=1)
    login_window_seconds: int = Field(900, ge=1)
    # An API key's last_used_at is written at most this often, to keep reads cheap.
    api_key_touch_seconds: int = Field(60, ge=0)

    playbook_root: Path = Path("playbooks")
    job_backend: JobBackend = JobBackend.embedded
    redis_url: str = "redis://127.0.0.1:6379/0"
    celery_queue: str = Field("opsledger", min_length=1, max_length=100)
    # Jobs one server process (embedded backend) runs at once; 0 runs none there.
    job_concurrency: int = Field(4, ge=0, le=256)
    # How often an idle embedded pool looks for pending jobs.
    job_poll_seconds: float = Field(0.5, gt=0)
    # A running job writes a heartbeat this often; one silent for job_reap_seconds is
    # failed by the reaper (its worker died).
    job_heartbeat_seconds: float = Field(5.0, gt=0)
    job_reap_seconds: float = Field(60.0, gt=0)
    # A pending Celery job whose task did not reach the broker is sent again once it is
    # this old (by the reaper, which runs every job_reap_seconds / 2).
    job_dispatch_retry_seconds: float = Field(30.0, gt=0)
    # A time limit for every job and run batch whose template sets none (0: none); a
    # job it stops fails as timed out (its event: job.timed_out or run.timed_out).
    job_timeout_seconds: int = Field(0, ge=0)
    # Where each job gets its private directory (inventory, key file); default: the
    # system temp directory.
    job_work_dir: Path | None = None
    # With a known_hosts file, host keys are checked against it (StrictHostKeyChecking);
    # without one they are not checked and nothing is remembered between jobs.
    ssh_known_hosts: Path | None = None
    job_sandbox: JobSandbox = JobSandbox.bwrap
    job_network: JobNetwork = JobNetwork.ssh
    # When the server runs as root, playbooks run as this unprivileged account
    # (`opsledger up` creates it); otherwise they run as the server's own user.
    runner_user: str = Field("opsledger-runner", pattern=r"^[a-z_][a-z0-9_-]{0,31}$")

    # Hours from opening to due, per ticket priority.
    ticket_sla_hours: dict[str, float] = Field(
        default_factory=lambda: {"critical": 4.0, "high": 24.0, "medium": 72.0, "low": 168.0}
    )
    # How often each server process looks for tickets past their due date that have not
    # been told yet (ticket.overdue; 0: never).
    ticket_overdue_poll_seconds: float = Field(60.0, ge=0)

    log_retention_days: int = Field(90, ge=1)
    audit_retention_days: int = Field(365, ge=1)
    # How often each server process runs retention by itself; 0 leaves it to
    # `opsledger retention run` (cron, a Kubernetes CronJob).
    retention_interval_hours: float = Field(24.0, ge=0)
    # How often each server process looks for due schedules (0: never), and how late a
    # due time may be found before it counts as missed (the schedule's missed policy).
    schedule_poll_seconds: float = Field(5.0, ge=0)
    schedule_missed_after_seconds: float = Field(300.0, gt=0)

    # Notifications. Webhook and Slack URLs may not reach loopback, private or link-local
    # addresses (cloud metadata) unless this allows them: a lab, the tests.
    notify_allow_private: bool = False
    # How often each server process sends due deliveries (0: never), how many one pass
    # claims, and how long one send may take.
    notify_poll_seconds: float = Field(1.0, ge=0)
    notify_batch: int = Field(100, ge=1, le=1000)
    notify_timeout_seconds: float = Field(10.0, gt=0)
    # Sends per delivery before it is dead, and the backoff between them: base * 2^n,
    # at most max, each with jitter (a random half of it taken off).
    notify_max_attempts: int = Field(8, ge=1, le=100)
    notify_retry_base_seconds: float = Field(30.0, gt=0)
    notify_retry_max_seconds: float = Field(3600.0, gt=0)
    # The console's address as people reach it, for the links in messages.
    public_url: str | None = None
    smtp_host: str | None = None
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_security: SmtpSecurity = SmtpSecurity.starttls
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    # The CAs the SMTP server's certificate is checked against (an internal relay's);
    # default: the system's. Certificates are always checked.
    smtp_ca_file: Path | None = None
    smtp_from: str = "opsledger@localhost"

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    # Server processes. Each has its own pool and login throttle; SQLite copes with
    # several (WAL, BEGIN IMMEDIATE and a busy timeout).
    workers: int = Field(1, ge=1, le=64)
    # Reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed: addresses
    # or networks, comma-separated. None by default: the client is the TCP peer.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Open connections one server process serves; beyond it, new requests get 503.
    max_connections: int = Field(1000, ge=1)
    # Request bodies: at most this size (playbook uploads 4 MiB), all of it arriving
    # within this many seconds.
    max_body_bytes: int = Field(1024 * 1024, ge=1024)
    body_timeout_seconds: float = Field(30.0, gt=0)

    @field_validator("database_url", "database_replica_url")
    @classmethod
    def _async_driver(cls, value: str | None) -> str | None:
        return None if value is None else normalize_database_url(value)

    @field_validator("ticket_sla_hours")
    @classmethod
    def _every_priority(cls, value: dict[str, float]) -> dict[str, float]:
        expected = {"critical", "high", "medium", "low"}
        if set(value) != expected or any(hours <= 0 for hours in value.values()):
            raise ValueError(f"needs positive hours for exactly {sorted(expected)}")
        return value

    @field_validator("audit_key")
    @classmethod
    def _long_audit_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_AUDIT_KEY_LENGTH:
            raise ValueError(
                f"needs at least {MIN_AUDIT_KEY_LENGTH} characters "
                "(`opsledger keys generate` prints a suitable one)"
            )
        return value

    @field_validator("encryption_keys", "trusted_proxies", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: list[str]) -> list[str]:
        for entry in value:
            ipaddress.ip_network(entry, strict=False)  # ValueError names the bad one
        return value

    @property
    def has_encryption_key(self) -> bool:
        return bool(self.encryption_keys) or self.encryption_password is not None

    def with_key_file(self) -> Settings:
        """Fill unset secrets from the key file that `opsledger up` generated."""
        if not self.key_file.is_file():
            return self
        stored = {k: v for k, v in dotenv_values(self.key_file).items() if v}
        updates: dict[str, object] = {}
        if not self.has_encryption_key and "OPSLEDGER_ENCRYPTION_KEYS" in stored:
            keys = stored["OPSLEDGER_ENCRYPTION_KEYS"] or ""
            updates["encryption_keys"] = [SecretStr(k.strip()) for k in keys.split(",") if k]
        if self.jwt_secret is None and "OPSLEDGER_JWT_SECRET" in stored:
            updates["jwt_secret"] = SecretStr(stored["OPSLEDGER_JWT_SECRET"] or "")
        return self.model_copy(update=updates) if updates else self


def write_key_file(path: Path) -> None:
    """Generate a Fernet key and a JWT secret into a new file readable only by its owner."""
    content = (
        "# Generated by `opsledger up`. Losing this file loses every encrypted value.\n"
        f"OPSLEDGER_ENCRYPTION_KEYS={Fernet.generate_key().decode()}\n"
        f"OPSLEDGER_JWT_SECRET={secrets.token_urlsafe(48)}\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(content)
