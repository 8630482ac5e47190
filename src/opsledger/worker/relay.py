"""The job's only way out: SSH to the hosts of its own inventory.

Under bubblewrap the job process has a network namespace of its own with nothing but
loopback, so a playbook can reach no service of the controller's (the database, Redis,
the API, a cloud metadata address) and nothing else on the network either. ssh gets to
the run's hosts through this relay: its ``ProxyCommand`` (``job_process.py relay``)
connects to the relay's socket in the run's agent directory and names the host and port
it wants; the relay, outside the sandbox, connects only when that pair is one of the
run's targets, answers ``ok`` or why not, and copies bytes both ways. The proxy command
then hands the connected socket to ssh (``ProxyUseFdpass``) and exits.

Tasks on a managed host keep that host's own network; only what runs on the controller
(``delegate_to: localhost``, lookups, ``connection: local``) is cut off.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import resource
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger(__name__)

CONNECT_SECONDS = 30.0
REQUEST_SECONDS = 10.0
MAX_REQUEST_BYTES = 512
CHUNK_BYTES = 64 * 1024
# At once, per run: ssh keeps one master connection per host of the batch for the run
# (sandbox.CONTROL_PERSIST), and Ansible works on `forks` hosts at a time, each of which
# may open a few more while its master starts; a playbook opening thousands to exhaust
# the server's file handles (two per connection) is refused beyond this (reviews 3, 4).
CONNECTIONS_PER_FORK = 4
SPARE_CONNECTIONS = 16

Target = tuple[str, int]


@functools.cache
def _allow_open_files() -> None:
    """Raise this process's soft limit on open files to its hard limit, once: a relay
    holds two handles per connection, about two thousand for a batch of a thousand hosts,
    where the usual soft limit is 1,024 (a refused accept reads as an unreachable host)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Relay:
    """A unix socket that connects the run's ssh to the run's targets, and nowhere else."""

    def __init__(
        self, path: Path, targets: Sequence[Target], owner: tuple[int, int] | None, forks: int
    ) -> None:
        """``targets``: each host's address and port, one per host of the batch."""
        self.path = path
        self.targets = frozenset(targets)
        hosts = len(targets)
        self.limit = hosts + CONNECTIONS_PER_FORK * min(forks, hosts) + SPARE_CONNECTIONS
        # Why the last connection to a target failed, while it has not connected since:
        # ssh silences its ProxyCommand when it keeps a master connection, so the job
        # learns the reason from here (runner.Split).
        self.failures: dict[Target, str] = {}
        self._owner = owner
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        _allow_open_files()
        self._server = await asyncio.start_unix_server(self._accept, path=str(self.path))
        if self._owner is not None:  # the job's account connects; nobody else can enter
            os.chown(self.path, *self._owner)  # the 0700 directory it lies in

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            connection.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._connections) >= self.limit:
            writer.write(b"refused: too many connections for this run\n")
            writer.close()
            return
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._serve(reader, writer)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            pass  # the job's side went away or sent nonsense: nothing to keep
        except asyncio.CancelledError:
            pass  # close(): the run ended; asyncio would log each one as an error
        finally:
            self._connections.discard(task)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await asyncio.wait_for(reader.readuntil(b"\n"), REQUEST_SECONDS)
        target = self._target(request)
        if target is None:
            await _answer(writer, "refused: not a host of this run")
            return
        try:
            remote_reader, remote_writer = await asyncio.wait_for(
                asyncio.open_connection(*target), CONNECT_SECONDS
            )
        except (OSError, TimeoutError) as exc:
            self.failures[target] = f"cannot connect to {target[0]} port {target[1]}: {_why(exc)}"
            await _answer(writer, self.failures[target])
            return
        self.failures.pop(target, None)
        try:
            await _answer(writer, "ok")
            await asyncio.gather(_copy(reader, remote_writer), _copy(remote_reader, writer))
        finally:
            remote_writer.close()

    def _target(self, request: bytes) -> Target | None:
        if len(request) > MAX_REQUEST_BYTES:
            return None
        host, _, port = request.decode("ascii", "replace").strip().rpartition(" ")
        if not port.isdigit():
            return None
        target = (host, int(port))
        return target if target in self.targets else None


async def _answer(writer: asyncio.StreamWriter, message: str) -> None:
    writer.write(message.encode() + b"\n")
    await writer.drain()


def _why(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer in {CONNECT_SECONDS:.0f} s"
    if isinstance(exc, OSError) and exc.errno is not None and exc.errno > 0:
        return os.strerror(exc.errno)  # asyncio's own text names the address, not the cause
    return (exc.strerror if isinstance(exc, OSError) else None) or type(exc).__name__


async def _copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    while chunk := await source.read(CHUNK_BYTES):
        sink.write(chunk)
        await sink.drain()
    with contextlib.suppress(OSError):
        if sink.can_write_eof():
            sink.write_eof()
