"""Running the installed ``opsledger`` command the way a user does."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

# The console script pip installed next to this interpreter.
OPSLEDGER = str(Path(sys.executable).with_name("opsledger"))


def clean_env(**settings: str) -> dict[str, str]:
    """The caller's environment without any OPSLEDGER_* setting, plus ``settings``; tables
    as wide as a wide terminal's (Rich fits a table to 80 columns off a terminal, which
    cuts long names short)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSLEDGER_")}
    return env | {"COLUMNS": "200"} | {f"OPSLEDGER_{k.upper()}": v for k, v in settings.items()}


def opsledger(
    *args: str, cwd: Path, timeout: float = 120, stdin: str | None = None, **settings: str
) -> subprocess.CompletedProcess[str]:
    """Run the command with ``settings`` as its only OPSLEDGER_* environment."""
    return subprocess.run(
        [OPSLEDGER, *args],
        cwd=cwd,
        env=clean_env(**settings),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


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
