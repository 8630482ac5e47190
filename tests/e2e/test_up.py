"""`opsledger up` on a fresh directory: database, key, roles, a server that answers."""

from __future__ import annotations

import sqlite3
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.cli import OPSLEDGER, clean_env, free_port, opsledger


def wait_until_healthy(
    url: str, process: subprocess.Popen[str], seconds: float = 60
) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"opsledger up exited early:\n{process.communicate()[0]}")
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            time.sleep(0.2)
    pytest.fail(f"{url} did not answer within {seconds} s")


@pytest.fixture
def served(tmp_path: Path) -> tuple[Path, httpx.Response, str]:
    """Runs `opsledger up` in an empty directory until /healthz answers, then stops it."""
    port = free_port()
    process = subprocess.Popen(
        [OPSLEDGER, "up", "--port", str(port)],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        response = wait_until_healthy(f"http://127.0.0.1:{port}/healthz", process)
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0]
    return tmp_path, response, output


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
    result = opsledger("serve", cwd=tmp_path)
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


def test_serve_with_two_workers_answers_from_both(workdir: Path) -> None:
    """Each worker builds its app from the same environment and key file."""
    port = free_port()
    env = clean_env(jwt_secret="w" * 64) | {
        "OPSLEDGER_ENCRYPTION_KEYS": (workdir / ".env").read_text().split("=", 1)[1].strip()
    }
    process = subprocess.Popen(
        [OPSLEDGER, "serve", "--workers", "2", "--port", str(port)],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        first = wait_until_healthy(f"http://127.0.0.1:{port}/healthz", process)
        answers = [httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5) for _ in range(20)]
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0]
    assert first.status_code == 200
    assert {answer.status_code for answer in answers} == {200}
    assert "2 process(es)" in output
