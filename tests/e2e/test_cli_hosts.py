"""`opsledger hosts …` from the shell."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.cli import opsledger


def test_hosts_are_added_listed_and_moved_from_the_shell(workdir: Path) -> None:
    added = opsledger(
        "hosts", "add", "db-1.example.com", "192.0.2.5", "--environment", "production", cwd=workdir
    )
    listed = opsledger("hosts", "list", "--environment", "production", cwd=workdir)
    moved = opsledger("hosts", "transition", "1", "provisioning", cwd=workdir)
    illegal = opsledger("hosts", "transition", "1", "new", cwd=workdir)
    bad = opsledger("hosts", "add", "bad host", "999.1.1.1", cwd=workdir)

    assert added.returncode == 0, added.stderr
    assert "added host db-1.example.com (id 1)" in added.stdout
    assert "db-1.example.com" in listed.stdout
    assert "192.0.2.5:22" in listed.stdout
    assert moved.returncode == 0
    assert "is now provisioning" in moved.stdout
    assert illegal.returncode == 1
    assert "cannot move hosts 1 to new" in illegal.stderr
    assert bad.returncode == 1
    assert "invalid input: hostname: String should match pattern" in bad.stderr
    assert "ip_address: Input is not a valid IPv4 address" in bad.stderr
    assert "lax-or-strict" not in bad.stderr
