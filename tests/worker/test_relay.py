"""The SSH relay on its own: it connects the run's targets and refuses everything else."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from opsledger.worker.relay import MAX_REQUEST_BYTES, Relay


@pytest.fixture
async def echo() -> AsyncIterator[int]:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while chunk := await reader.read(1024):
            writer.write(chunk.upper())
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


async def ask(
    relay: Relay, request: bytes
) -> tuple[bytes, asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_unix_connection(str(relay.path))
    writer.write(request)
    return await reader.readline(), reader, writer


async def test_the_relay_connects_a_target_both_ways(tmp_path: Path, echo: int) -> None:
    relay = Relay(tmp_path / "relay.sock", [("127.0.0.1", echo)], None, 5)
    await relay.start()
    try:
        answer, reader, writer = await ask(relay, f"127.0.0.1 {echo}\n".encode())
        writer.write(b"ssh-2.0 hello")
        writer.write_eof()
        assert answer == b"ok\n"
        assert await reader.read() == b"SSH-2.0 HELLO"
        writer.close()
    finally:
        await relay.close()


@pytest.mark.parametrize(
    "request_line",
    [
        b"127.0.0.1 {other}\n",  # a port of the controller's that is not the run's
        b"localhost {port}\n",  # another name for the same address
        b"127.0.0.1:{port}\n",
        b"127.0.0.1 {port} extra\n",
        b"\n",
        b"x" * MAX_REQUEST_BYTES + b" {port}\n",
    ],
)
async def test_the_relay_refuses_anything_but_a_target(
    tmp_path: Path, echo: int, request_line: bytes
) -> None:
    relay = Relay(tmp_path / "relay.sock", [("127.0.0.1", echo)], None, 5)
    await relay.start()
    try:
        request = request_line.replace(b"{port}", str(echo).encode())
        request = request.replace(b"{other}", str(echo + 1).encode())
        answer, reader, writer = await ask(relay, request)
        assert answer == b"refused: not a host of this run\n"
        assert await reader.read() == b""  # and closed
        writer.close()
    finally:
        await relay.close()


async def test_a_target_that_does_not_answer_is_named_with_the_reason(tmp_path: Path) -> None:
    closed = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = closed.sockets[0].getsockname()[1]
    closed.close()
    await closed.wait_closed()
    relay = Relay(tmp_path / "relay.sock", [("127.0.0.1", port)], None, 5)
    await relay.start()
    try:
        answer, _, writer = await ask(relay, f"127.0.0.1 {port}\n".encode())
        assert answer == f"cannot connect to 127.0.0.1 port {port}: Connection refused\n".encode()
        # For the job's error: ssh keeping master connections hides the ProxyCommand's.
        assert relay.failures == {("127.0.0.1", port): answer.decode().strip()}
        writer.close()
    finally:
        await relay.close()


async def test_a_run_cannot_hold_more_connections_than_its_hosts_need(
    tmp_path: Path, echo: int
) -> None:
    """Review 3: a playbook held thousands of relay connections and the server ran out of
    file handles."""
    relay = Relay(tmp_path / "relay.sock", [("127.0.0.1", echo)], None, 5)
    await relay.start()
    held = []
    try:
        for _ in range(relay.limit):
            answer, _, writer = await ask(relay, f"127.0.0.1 {echo}\n".encode())
            assert answer == b"ok\n"
            held.append(writer)
        refused, _, extra = await ask(relay, f"127.0.0.1 {echo}\n".encode())
        assert refused == b"refused: too many connections for this run\n"
        extra.close()
        held.pop().close()
        await asyncio.sleep(0.1)  # the relay sees that one go
        answer, _, writer = await ask(relay, f"127.0.0.1 {echo}\n".encode())
        assert answer == b"ok\n"
        held.append(writer)
    finally:
        for writer in held:
            writer.close()
        await relay.close()


def test_the_cap_is_a_master_per_host_and_a_few_per_host_worked_on_at_once() -> None:
    """Review 4: a 160-host run could hold 656 connections (1,300 file handles). Each
    host's master connection lives as long as the batch, whatever ``forks`` is; host
    records that share an sshd each have their own."""
    fleet = [("10.0.0.1", port) for port in range(1, 161)]
    assert Relay(Path("r.sock"), fleet, None, 5).limit == 160 + 4 * 5 + 16
    assert Relay(Path("r.sock"), fleet[:2], None, 20).limit == 2 + 4 * 2 + 16
    one_sshd = [("10.0.0.1", 22)] * 50
    assert Relay(Path("r.sock"), one_sshd, None, 20).limit == 50 + 4 * 20 + 16


async def test_closing_the_relay_with_connections_held_logs_nothing(
    tmp_path: Path, echo: int, caplog: pytest.LogCaptureFixture
) -> None:
    """Review 4: each connection still held at the end of a run logged a traceback."""
    relay = Relay(tmp_path / "relay.sock", [("127.0.0.1", echo)], None, 5)
    await relay.start()
    held = [await ask(relay, f"127.0.0.1 {echo}\n".encode()) for _ in range(3)]
    await relay.close()
    await asyncio.sleep(0.1)
    for _, _, writer in held:
        writer.close()
    assert [record for record in caplog.records if record.levelname == "ERROR"] == []
