"""How long the ``opsledger`` command takes to start: ``--help`` and ``--version`` against
the interpreter starting and exiting (``python -c pass``), and against importing the whole
app as the command did before it loaded commands lazily, all measured in the same run.

    python bench/cli_start.py [--runs 20]

The target is ``--help`` and ``--version`` under 0.3 s on the 2-core machine.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

OPSLEDGER = str(Path(sys.executable).with_name("opsledger"))
CASES = {
    "python -c pass (floor)": [sys.executable, "-c", "pass"],
    "opsledger --version": [OPSLEDGER, "--version"],
    "opsledger --help": [OPSLEDGER, "--help"],
    "opsledger users --help": [OPSLEDGER, "users", "--help"],
    "import opsledger.app (the whole app)": [sys.executable, "-c", "import opsledger.app"],
}


def timed(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    runs = parser.parse_args().runs
    for argv in CASES.values():
        timed(argv)  # warm the file cache and the bytecode
    print(f"{'command':40} {'median':>8} {'p90':>8}   ({runs} runs each)")
    for label, argv in CASES.items():
        samples = sorted(timed(argv) for _ in range(runs))
        p90 = samples[int(len(samples) * 0.9) - 1]
        print(f"{label:40} {statistics.median(samples):7.3f}s {p90:7.3f}s")


if __name__ == "__main__":
    main()
