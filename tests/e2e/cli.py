"""Running the installed ``opsledger`` command the way a user does."""

from __future__ import annotations

import atexit
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from opsledger import cli, commands

# The console script pip installed next to this interpreter.
OPSLEDGER = str(Path(sys.executable).with_name("opsledger"))


def clean_env(**settings: str) -> dict[str, str]:
    """The caller's environment without any OPSLEDGER_* setting, plus ``settings``; tables
    as wide as a wide terminal's (Rich fits a table to 80 columns off a terminal, which
    cuts long names short)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSLEDGER_")}
    return env | {"COLUMNS": "200"} | {f"OPSLEDGER_{k.upper()}": v for k, v in settings.items()}


def opsledger(
    *args: str,
    cwd: Path,
    timeout: float = 120,
    stdin: str | None = None,
    script: bool = False,
    **settings: str,
) -> subprocess.CompletedProcess[str]:
    """Run the command with ``settings`` as its only OPSLEDGER_* environment: a process of
    its own, forked from a server that has imported the libraries once; with ``script``,
    the installed console script from a new interpreter, for what only a whole run shows
    (whatever the interpreter prints as it exits, after ``main`` returns)."""
    argv = [OPSLEDGER, *args]
    if script:
        return subprocess.run(
            argv,
            cwd=cwd,
            env=clean_env(**settings),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    with tempfile.TemporaryDirectory(prefix="opsledger-cli-") as scratch:
        streams = [Path(scratch) / name for name in ("stdin", "stdout", "stderr")]
        for path, text in zip(streams, (stdin or "", "", ""), strict=True):
            path.write_text(text)
        command = _FORKS.Process(
            target=_console_script, args=(argv, clean_env(**settings), cwd, streams)
        )
        command.start()
        command.join(timeout)
        if command.exitcode is None:
            command.kill()
            command.join()
            raise subprocess.TimeoutExpired(argv, timeout)
        stdout, stderr = (path.read_text() for path in streams[1:])
    return subprocess.CompletedProcess(argv, command.exitcode, stdout, stderr)


# Each command would spend ~1.3 s of its ~1.5 s importing SQLAlchemy, Pydantic and the
# models; ~80 commands run in every test session. A fork server imports those once and
# forks a fresh process per command: its own environment, working directory, streams
# and exit code, like the console script, which calls the same ``main``. What the script
# imports after the models (the one command's own module, 0.1-0.5 s) each command still
# imports itself, so a command that only imports after another one fails here too.
_FORKS = multiprocessing.get_context("forkserver")
_FORKS.set_forkserver_preload(
    ["tests.e2e.cli", "opsledger.models", "alembic", "aiosqlite", "asyncpg", "asyncmy"]
)


def _console_script(argv: list[str], env: dict[str, str], cwd: Path, streams: list[Path]) -> None:
    """In the forked process: what running ``argv`` from a shell sets up, then ``main``."""
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    for fd, path in enumerate(streams):
        opened = os.open(path, os.O_RDONLY if fd == 0 else os.O_WRONLY)
        os.dup2(opened, fd)
        os.close(opened)
    # The process's own streams, open until it ends.
    sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
    sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
    # The consoles were made at import, in the server: make them again for these streams
    # and this environment (its COLUMNS).
    commands.out.__init__()  # type: ignore[misc]
    commands.err.__init__(stderr=True)  # type: ignore[misc]
    sys.argv = argv
    try:
        cli.main()
    finally:
        atexit._run_exitfuncs()  # the fork ends with os._exit, which skips them
        sys.stdout.flush()
        sys.stderr.flush()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until_healthy(
    url: str, process: subprocess.Popen[str], seconds: float = 60
) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"opsledger exited early:\n{process.communicate()[0]}")
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            time.sleep(0.2)
    pytest.fail(f"{url} did not answer within {seconds} s")


@dataclass
class Served:
    url: str
    first: httpx.Response
    output: list[str] = field(default_factory=list)  # filled when the server has stopped


@contextmanager
def serving(*args: str, cwd: Path, env: dict[str, str]) -> Iterator[Served]:
    """``opsledger <args> --port N`` until /healthz answers; stopped on leaving."""
    port = free_port()
    process = subprocess.Popen(
        [OPSLEDGER, *args, "--port", str(port)],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    served = Served(url, httpx.Response(0))
    try:
        served.first = wait_until_healthy(f"{url}/healthz", process)
        yield served
    finally:
        process.terminate()
        served.output.append(process.communicate(timeout=30)[0])
