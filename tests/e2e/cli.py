"""Running the installed ``opsledger`` command the way a user does."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

# The console script pip installed next to this interpreter.
OPSLEDGER = str(Path(sys.executable).with_name("opsledger"))


def clean_env(**settings: str) -> dict[str, str]:
    """The caller's environment without any OPSLEDGER_* setting, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSLEDGER_")}
    return env | {f"OPSLEDGER_{k.upper()}": v for k, v in settings.items()}


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
