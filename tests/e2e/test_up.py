"""`opsledger up` on a fresh directory: database, key, roles, a server that answers."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
from pathlib import Path

import httpx
import pytest

from opsledger.kit.head_deadline import HEAD_BYTES, HEAD_SECONDS
from tests.e2e.cli import OPSLEDGER, clean_env, free_port, opsledger, serving


@pytest.fixture
def served(tmp_path: Path) -> tuple[Path, httpx.Response, str]:
    """Runs `opsledger up` in an empty directory until /healthz answers, then stops it."""
    with serving("up", cwd=tmp_path, env=clean_env()) as server:
        pass
    return tmp_path, server.first, server.output[0]


def test_up_creates_the_database_seeds_roles_and_serves_healthz(
    served: tuple[Path, httpx.Response, str],
) -> None:
    directory, response, output = served

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}
    assert (directory / "opsledger.db").stat().st_mode & 0o777 == 0o600
    with sqlite3.connect(directory / "opsledger.db") as db:
        roles = {name for (name,) in db.execute("SELECT name FROM host_roles")}
        admins = db.execute("SELECT username, password_hash FROM users WHERE role = 'admin'")
        (admin_name, admin_hash), *others = admins.fetchall()
    assert roles == {"frontend", "redis", "npu-worker", "ai-stack", "browser"}
    assert admin_name == "admin"
    assert others == []
    assert admin_hash.startswith("$2b$12$")
    assert "created the first admin" in output
    key_file = directory / "opsledger.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert "opsledger.key" in output
    assert "OPSLEDGER_ENCRYPTION_KEYS=" not in output
    assert "jobs will fail" not in output  # the job sandbox is usable here


def test_a_second_setup_reuses_the_key_and_seeds_nothing_new(
    served: tuple[Path, httpx.Response, str],
) -> None:
    directory, _, _ = served
    key_before = (directory / "opsledger.key").read_text()

    seeded = opsledger("seed", cwd=directory)
    checked = opsledger("db", "check", cwd=directory)

    assert seeded.returncode == 0, seeded.stderr
    assert "none missing" in seeded.stdout
    assert checked.returncode == 0, checked.stderr
    assert (directory / "opsledger.key").read_text() == key_before


def test_serve_without_a_key_refuses_to_start(tmp_path: Path) -> None:
    result = opsledger("serve", cwd=tmp_path, script=True)
    assert result.returncode == 1
    assert "no encryption key or token secret configured" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_never_starts_on_a_new_empty_database_file(tmp_path: Path) -> None:
    env = clean_env(jwt_secret="j" * 64) | {
        "OPSLEDGER_ENCRYPTION_KEYS": "k" * 43 + "=",
        "OPSLEDGER_DATABASE_URL": f"sqlite:///{tmp_path / 'gone.db'}",
    }
    result = subprocess.run(
        [OPSLEDGER, "serve"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "no database at" in result.stderr
    assert "opsledger up" in result.stderr
    assert not (tmp_path / "gone.db").exists()


def serve_keys() -> dict[str, str]:
    """Keys, and a port of its own should serve start after all."""
    return clean_env(jwt_secret="j" * 64, port=str(free_port())) | {
        "OPSLEDGER_ENCRYPTION_KEYS": "k" * 43 + "="
    }


def serve_once(cwd: Path) -> subprocess.CompletedProcess[str]:
    """``opsledger serve`` where it is expected to refuse (and so to return)."""
    return subprocess.run(
        [OPSLEDGER, "serve"], cwd=cwd, env=serve_keys(), capture_output=True, text=True, timeout=60
    )


def test_a_command_that_only_reads_never_creates_the_database_file(tmp_path: Path) -> None:
    """Opening a missing SQLite file creates it empty; serve would then have found a file."""
    listed = opsledger("users", "list", cwd=tmp_path, script=True)
    served = serve_once(tmp_path)

    assert listed.returncode == 1
    assert "no database at opsledger.db" in listed.stderr
    assert "opsledger db upgrade" in listed.stderr
    assert "Traceback" not in listed.stderr
    assert not (tmp_path / "opsledger.db").exists()
    assert served.returncode == 1
    assert "no database at" in served.stderr


@pytest.mark.parametrize("content", [b"", None], ids=["0-byte file", "tables, no migration"])
def test_serve_never_starts_on_a_database_no_migration_made(
    tmp_path: Path, content: bytes | None
) -> None:
    database = tmp_path / "opsledger.db"
    if content is None:
        with sqlite3.connect(database) as db:
            db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY)")
        db.close()
    else:
        database.write_bytes(content)
    before = database.read_bytes()

    result = serve_once(tmp_path)

    assert result.returncode == 1
    assert "holds no migrated schema" in result.stderr
    assert "opsledger up" in result.stderr
    assert "opsledger db upgrade" in result.stderr
    assert database.read_bytes() == before


def test_serve_with_two_workers_answers_from_both(workdir: Path) -> None:
    """Each worker builds its app from the same environment and key file."""
    with serving("serve", "--workers", "2", cwd=workdir, env=serve_env(workdir)) as server:
        answers = [httpx.get(f"{server.url}/healthz", timeout=5) for _ in range(20)]
    assert server.first.status_code == 200
    assert {answer.status_code for answer in answers} == {200}
    assert "2 process(es)" in server.output[0]


def serve_env(workdir: Path, **settings: str) -> dict[str, str]:
    key = (workdir / ".env").read_text().split("=", 1)[1].strip()
    return clean_env(jwt_secret="w" * 64, **settings) | {"OPSLEDGER_ENCRYPTION_KEYS": key}


def failed_logins(url: str, count: int) -> list[int]:
    """Wrong passwords for ``count`` different unknown names, each from a different
    claimed address."""
    return [
        httpx.post(
            f"{url}/api/v1/auth/login",
            json={"username": f"nobody{n}", "password": "wrong-password"},
            headers={"X-Forwarded-For": f"203.0.113.{n}"},
            timeout=10,
        ).status_code
        for n in range(1, count + 1)
    ]


def test_forwarded_addresses_are_ignored_unless_from_a_trusted_proxy(workdir: Path) -> None:
    # A per-address limit of 3 (20 by default): each failed login is a bcrypt check.
    limited = {"login_max_failures_per_ip": "3"}
    with serving("serve", cwd=workdir, env=serve_env(workdir, **limited)) as server:
        untrusted = failed_logins(server.url, 5)
    env = serve_env(workdir, trusted_proxies="127.0.0.1", **limited)
    with serving("serve", cwd=workdir, env=env) as server:
        trusted = failed_logins(server.url, 5)
    with sqlite3.connect(workdir / "opsledger.db") as db:
        addresses = {ip for (ip,) in db.execute("SELECT ip_address FROM audit_logs")}

    # The per-address limit counts the real peer, whatever the header claims.
    assert untrusted == [401] * 3 + [429] * 2
    # Behind a configured proxy, each forwarded address is its own client.
    assert trusted == [401] * 5
    assert "127.0.0.1" in addresses
    assert "203.0.113.5" in addresses


def test_a_client_too_slow_with_its_request_head_is_dropped(workdir: Path) -> None:
    with serving("serve", cwd=workdir, env=serve_env(workdir)) as server:
        port = int(server.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as slow:
            slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and no more
            slow.settimeout(HEAD_SECONDS + 20)
            closed = slow.recv(100)
        answered = httpx.get(f"{server.url}/healthz", timeout=5)

    assert closed == b""  # the server hung up without an answer
    assert answered.status_code == 200


def test_a_request_head_too_large_is_refused_and_the_connection_closed(workdir: Path) -> None:
    with serving("serve", cwd=workdir, env=serve_env(workdir)) as server:
        port = int(server.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as large:
            large.settimeout(30)
            # One byte over: the server has read all of it when it answers and closes, so
            # the close is a clean one (unread bytes would make it a reset).
            start = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Filler: "
            large.sendall(start + b"a" * (HEAD_BYTES + 1 - len(start)))
            answer = large.recv(200)
        big_post = httpx.post(
            f"{server.url}/api/v1/auth/login", content=b"{" + b" " * 200_000 + b"}", timeout=30,
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        answered = httpx.get(f"{server.url}/healthz", timeout=5)

    assert answer.startswith(b"HTTP/1.1 431 ")
    assert big_post.status_code == 422  # a body is not a head, however it arrives
    assert answered.status_code == 200


def test_up_gives_a_channel_without_rules_the_default_ones_and_none_by_itself(
    served: tuple[Path, httpx.Response, str],
) -> None:
    directory, _, first_output = served
    added = opsledger("notify", "channels", "add", "ops-mail", "-k", "email", "--to",
                      "ops@example.com", cwd=directory)  # fmt: skip
    with serving("up", cwd=directory, env=clean_env()) as server:
        pass
    with sqlite3.connect(directory / "opsledger.db") as db:
        rules = db.execute(
            "SELECT event, min_priority, min_severity FROM notification_rules ORDER BY id"
        ).fetchall()

    assert "notification rules" not in first_output  # no channel, no rule
    assert added.returncode == 0, added.stderr
    assert "added the default notification rules to channels: ops-mail" in server.output[0]
    assert ("job.failed", None, None) in rules
    assert ("ticket.opened", "high", None) in rules
    assert ("alert.firing", None, "critical") in rules
    assert len(rules) == 9
