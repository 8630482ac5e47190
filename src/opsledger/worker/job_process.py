"""The job process: ansible-runner and the playbook it starts, inside the sandbox.

The server starts this file (by path: it imports nothing of opsledger) confined as
``sandbox.py`` describes, sends ansible-runner's arguments as one JSON document on
stdin, and reads back one JSON document per line on stdout: each event, then the end
(``{"end": {"status": ..., "rc": ...}}``). Everything ansible-runner does with files
(its artifacts, the event data the callback leaves for it) happens in here, as the
sandbox's account: the server reads nothing the playbook could have written but this
stream, and a forged line can say no more than the playbook could print anyway.

``job_process.py relay SOCKET HOST PORT`` is ssh's ProxyCommand inside the sandbox (see
``relay.py``): it asks the run's relay for HOST:PORT and hands the connected socket to
ssh (``ProxyUseFdpass``), so it is gone before ssh sends a byte.
"""

from __future__ import annotations

import socket
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any


def main() -> None:
    # Imported here: the relay command starts on every ssh connection, and each import
    # at the top would cost every one of them (json and typing alone ~9 ms).
    import json

    import ansible_runner

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


def relay(socket_path: str, host: str, port: str) -> int:
    connection = socket.socket(socket.AF_UNIX)
    connection.connect(socket_path)
    connection.sendall(f"{host} {port}\n".encode())
    answer = b""
    while not answer.endswith(b"\n") and (byte := connection.recv(1)):
        answer += byte
    if answer != b"ok\n":
        reason = answer.decode(errors="replace").strip() or "the relay closed"
        sys.stderr.write(f"opsledger relay: {reason}\n")
        return 255
    ssh = socket.socket(fileno=sys.stdout.fileno())  # ssh's end of a socket pair
    socket.send_fds(ssh, [b"\0"], [connection.fileno()])
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["relay"]:
        sys.exit(relay(*sys.argv[2:5]))
    main()
