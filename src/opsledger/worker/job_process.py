"""The job process: ansible-runner and the playbook it starts, inside the sandbox.

The server starts this file (by path: it imports nothing of opsledger) confined as
``sandbox.py`` describes, sends ansible-runner's arguments as one JSON document on
stdin, and reads back one JSON document per line on stdout: each event, then the end
(``{"end": {"status": ..., "rc": ...}}``). Everything ansible-runner does with files
(its artifacts, the event data the callback leaves for it) happens in here, as the
sandbox's account: the server reads nothing the playbook could have written but this
stream, and a forged line can say no more than the playbook could print anyway.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import ansible_runner


def main() -> None:
    arguments = json.load(sys.stdin)
    out = sys.stdout

    def send(document: dict[str, Any]) -> None:
        out.write(json.dumps(document, default=str) + "\n")
        out.flush()

    def on_event(event: dict[str, Any]) -> bool:
        send({"event": event})
        return False  # nothing kept on disk: the server has every line

    try:
        runner = ansible_runner.run(**arguments, event_handler=on_event)
    except Exception as exc:  # reported to the server, which fails the job with it
        send({"error": type(exc).__name__})
        return
    send({"end": {"status": runner.status, "rc": runner.rc}})


if __name__ == "__main__":
    main()
