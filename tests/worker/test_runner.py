"""Run directories: whose they are, so that one installation's sweep never touches
another's runs."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from opsledger.worker.runner import processes_naming, run_prefix, sweep
from tests.api import api_settings

RELATIVE_SQLITE = "sqlite+aiosqlite:///./opsledger.db"


def test_two_default_installations_on_one_machine_sweep_only_their_own_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every default installation has the same relative URL; each must still own its runs."""
    shared = tmp_path / "runs"
    shared.mkdir()
    settings = api_settings(database_url=RELATIVE_SQLITE, job_work_dir=shared)
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    monkeypatch.chdir(tmp_path / "two")
    theirs = shared / f"{run_prefix(settings)}7-running"
    theirs.mkdir()
    # A job process of the other installation: its command line names its run directory.
    process = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(600)", str(theirs)],
        stdin=subprocess.DEVNULL,
    )
    try:
        monkeypatch.chdir(tmp_path / "one")
        # Findable as a sweep finds processes before it sweeps (on a busy machine /proc
        # showed it only a moment after it started, once in CI).
        deadline = time.monotonic() + 10
        while process.pid not in processes_naming(theirs.name):
            assert time.monotonic() < deadline, "the process never showed in /proc"
            time.sleep(0.05)

        swept = sweep(settings, keep=set())

        # Before its prefix named the database's absolute path, this sweep removed the
        # directory and SIGTERMed the process.
        assert (swept, theirs.is_dir(), process.poll()) == ([], True, None)
        assert not theirs.name.startswith(run_prefix(settings))
    finally:
        process.kill()
        process.wait()


def test_a_server_database_is_named_by_its_url_without_the_password() -> None:
    first = api_settings(database_url="postgresql://ops:one@db.example/opsledger")
    second = api_settings(database_url="postgresql://ops:two@db.example/opsledger")
    other = api_settings(database_url="postgresql://ops:one@db.example/elsewhere")

    assert run_prefix(first) == run_prefix(second)
    assert run_prefix(first) != run_prefix(other)
