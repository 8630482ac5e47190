"""`opsledger users …` from the shell: create, list, change role, reset, unlock,
deactivate."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.e2e.cli import opsledger


def users_table(directory: Path) -> dict[str, tuple[str, int, str, int]]:
    with sqlite3.connect(directory / "opsledger.db") as db:
        rows = db.execute(
            "SELECT username, role, is_active, password_hash, token_version FROM users"
        )
        return {
            name: (role, active, hashed, version) for name, role, active, hashed, version in rows
        }


def test_a_user_is_created_managed_and_audited_from_the_shell(workdir: Path) -> None:
    created = opsledger(
        "users", "create", "alice", "Alice@Example.com", "--role", "operator", cwd=workdir
    )
    piped = opsledger(
        "users",
        "create",
        "bob",
        "bob@example.com",
        "--password-stdin",
        cwd=workdir,
        stdin="a long enough password\n",
    )
    listed = opsledger("users", "list", cwd=workdir)
    promoted = opsledger("users", "set-role", "bob", "admin", cwd=workdir)
    reset = opsledger("users", "reset-password", "alice", cwd=workdir)
    unlocked = opsledger("users", "unlock", "ALICE", cwd=workdir)  # any spelling of the name
    deactivated = opsledger("users", "deactivate", "alice", cwd=workdir)
    duplicate = opsledger("users", "create", "alice", "other@example.com", cwd=workdir)
    unknown = opsledger("users", "deactivate", "nobody", cwd=workdir)

    assert created.returncode == 0, created.stderr
    assert "password for alice:" in created.stdout
    assert piped.returncode == 0, piped.stderr
    assert "a long enough password" not in piped.stdout
    assert "alice" in listed.stdout
    assert "bob" in listed.stdout
    assert promoted.returncode == 0
    assert reset.returncode == 0
    assert unlocked.returncode == 0, unlocked.stderr
    assert "ALICE may sign in again" in unlocked.stdout
    assert deactivated.returncode == 0
    assert duplicate.returncode == 1
    assert "already exists" in duplicate.stderr
    assert unknown.returncode == 1
    assert "does not exist" in unknown.stderr
    users = users_table(workdir)
    assert users["alice"][0] == "operator"
    assert users["alice"][1] == 0
    assert users["alice"][2].startswith("$2b$12$")
    assert users["alice"][3] == 2  # reset and deactivation each ended every token
    assert users["bob"][0] == "admin"
    with sqlite3.connect(workdir / "opsledger.db") as db:
        actions = [a for (a,) in db.execute("SELECT action FROM audit_logs ORDER BY id")]
        actors = {u for (u,) in db.execute("SELECT user_name FROM audit_logs")}
    assert actions == ["create", "create", "update", "password_reset", "unlock", "update"]
    assert all(actor.startswith("cli:") for actor in actors)
    assert opsledger("audit", "verify", cwd=workdir).returncode == 0


def test_a_short_password_on_stdin_is_refused(workdir: Path) -> None:
    result = opsledger(
        "users",
        "create",
        "carol",
        "carol@example.com",
        "--password-stdin",
        cwd=workdir,
        stdin="short\n",
    )
    assert result.returncode == 1
    assert "at least 12 characters" in result.stderr
    assert "short" not in result.stdout


def test_an_invalid_email_is_one_line_not_a_traceback(workdir: Path) -> None:
    result = opsledger("users", "create", "dave", "not-an-email", cwd=workdir, script=True)
    assert result.returncode == 1
    assert result.stderr.startswith("error: invalid input: email")
    assert "Traceback" not in result.stderr
