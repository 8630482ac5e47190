"""The notification dispatcher against a webhook receiver on loopback, in its own process:
how fast it drains a 10,000-row outbox, set against the same number of signed POSTs sent
bare with httpx (the baseline: what the machine does with no outbox at all), and how
long an event takes from its commit to its receipt when events come steadily.

    python bench/notifications.py [--url EMPTY_DB] [--outbox 10000] [--rate 100]
                                  [--seconds 10] [--poll 1.0]

The drain calls ``deliver_due`` back to back; the steady part commits ``--rate`` events a
second, each one delivery, in a process whose runtime sends them as a server's does
(its job pool, polling every ``--poll`` seconds and nudged by its own commits). Prints
rates, the ratio to the baseline and the latency's p50/p95 (goal: >= 500 deliveries/s,
p95 < 1 s), and that every delivery arrived exactly once.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import signal
import statistics
import sys
import time
import uuid

import httpx
from cryptography.fernet import Fernet
from drivers import command_line, run_against
from sqlalchemy import insert, select

import opsledger.models  # noqa: F401 - every mapper, as the server has them
from opsledger import migrations
from opsledger.config import Settings
from opsledger.db.base import utcnow
from opsledger.db.engine import create_engine
from opsledger.db.session import session_factory, unit_of_work
from opsledger.notifications import dispatch, outbox
from opsledger.notifications.events import Event
from opsledger.notifications.models import (
    DeliveryStatus,
    EventName,
    NotificationChannel,
    NotificationDelivery,
    NotificationRule,
)
from opsledger.security.context import system_context
from opsledger.security.crypto import KeyRing, install_key_ring
from opsledger.worker.pool import JobPool

KEY = Fernet.generate_key().decode()
SECRET = "bench-secret-of-some-length"


def settings_for(url: str, poll: float = 1.0) -> Settings:
    return Settings.model_validate(
        {
            "database_url": url,
            "encryption_keys": [KEY],
            "notify_allow_private": True,
            "notify_poll_seconds": poll,
        }
    )


# The receiver: HTTP/1.1 with keep-alive, recording when each Idempotency-Key arrived.
async def receive() -> None:
    arrived: list[tuple[str, float]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                headers = dict(
                    line.split(": ", 1) for line in head.decode().lower().split("\r\n")[1:] if line
                )
                await reader.readexactly(int(headers.get("content-length", "0")))
                arrived.append((headers.get("idempotency-key", ""), time.time()))
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    print(json.dumps(arrived))


class Receiver:
    async def __aenter__(self) -> Receiver:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--receive", stdout=asyncio.subprocess.PIPE
        )
        assert self.process.stdout is not None
        self.port = int(await self.process.stdout.readline())
        return self

    async def arrivals(self) -> list[tuple[str, float]]:
        """Stop it; each request's Idempotency-Key and time of arrival."""
        self.process.send_signal(signal.SIGTERM)
        out, _ = await self.process.communicate()
        return [(key, at) for key, at in json.loads(out)]

    async def __aexit__(self, *_: object) -> None:
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


async def bare(port: int, count: int) -> float:
    """Signed POSTs with httpx alone, as many at once as the dispatcher sends: per second."""
    gate = asyncio.Semaphore(dispatch.CONCURRENCY)

    async def post(client: httpx.AsyncClient, n: int) -> None:
        body = json.dumps({"id": str(n), "event": "job.failed", "text": f"bench {n}"}).encode()
        stamp = int(time.time())
        digest = hmac.new(SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256)
        signature = f"t={stamp},v1={digest.hexdigest()}"
        headers = {"Idempotency-Key": str(n), "X-Opsledger-Signature": signature}
        async with gate:
            answer = await client.post(
                f"http://127.0.0.1:{port}/hook", content=body, headers=headers
            )
            answer.raise_for_status()

    async with httpx.AsyncClient(trust_env=False) as client:
        started = time.perf_counter()
        await asyncio.gather(*(post(client, n) for n in range(count)))
        return count / (time.perf_counter() - started)


async def channel_to(url: str, port: int, environment: str) -> int:
    """A webhook channel to the receiver, routed job.failed on ``environment``."""
    engine = create_engine(settings_for(url))
    async with unit_of_work(session_factory(engine)) as session:
        channel = NotificationChannel(
            name=f"bench-{uuid.uuid4().hex[:8]}",
            kind="webhook",
            url=f"http://127.0.0.1:{port}/hook",
            secret=SECRET,
        )
        session.add(channel)
        await session.flush()
        session.add(
            NotificationRule(
                channel_id=channel.id, event=EventName.job_failed, environment=environment
            )
        )
        channel_id = channel.id
    await engine.dispose()
    return channel_id


async def drain(url: str, port: int, count: int) -> tuple[float, int]:
    """``count`` deliveries written at once, then sent by ``deliver_due`` (a pass of
    OPSLEDGER_NOTIFY_BATCH after another): (per second, deliveries delivered)."""
    settings = settings_for(url)
    engine = create_engine(settings)
    channel_id = await channel_to(url, port, "drained")
    now = utcnow()
    rows = [
        {
            "uuid": uuid.uuid4(),
            "channel_id": channel_id,
            "event": "job.failed",
            "payload": {"text": f"Job {n} failed: site.yml on web-{n}"},
            "tries_left": 3,
            "next_attempt_at": now,
            "created_at": now,
        }
        for n in range(count)
    ]
    async with unit_of_work(session_factory(engine)) as session:
        for start in range(0, count, 1000):
            await session.execute(insert(NotificationDelivery), rows[start : start + 1000])
    started = time.perf_counter()
    await dispatch.deliver_due(engine, settings)
    took = time.perf_counter() - started
    async with unit_of_work(session_factory(engine)) as session:
        delivered = len(
            list(
                await session.scalars(
                    select(NotificationDelivery.id).where(
                        NotificationDelivery.channel_id == channel_id,
                        NotificationDelivery.status == DeliveryStatus.delivered,
                    )
                )
            )
        )
    await engine.dispose()
    return count / took, delivered


async def steady(url: str, port: int, rate: int, seconds: float, poll: float) -> dict[str, float]:
    """Events committed at ``rate`` a second, each in its own transaction, in a process
    whose runtime sends them as a server's does (its job pool's periodic work, nudged by
    the commits): when each was committed, by its delivery's key."""
    settings = settings_for(url, poll)
    engine = create_engine(settings)
    environment = f"steady-{uuid.uuid4().hex[:8]}"
    await channel_to(url, port, environment)
    pool = JobPool(engine, settings, concurrency=0)
    pool.start()
    sessions = session_factory(engine)
    committed: dict[str, float] = {}
    started = time.perf_counter()
    for n in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, started + n / rate - time.perf_counter()))
        async with unit_of_work(sessions) as session:
            event = Event(
                EventName.job_failed,
                f"Job {n} failed",
                "job",
                n,
                f"/jobs/{n}",
                frozenset({environment}),
            )
            await outbox.enqueue(system_context(session, settings, "bench"), event)
            key = await session.scalar(
                select(NotificationDelivery.uuid).order_by(NotificationDelivery.id.desc())
            )
        committed[str(key)] = time.time()
    await asyncio.sleep(max(5.0, 3 * poll))  # what is left goes out
    await pool.stop()
    await engine.dispose()
    return committed


async def main(url: str, count: int, rate: int, seconds: float, poll: float) -> None:
    engine = create_engine(settings_for(url))
    await migrations.upgrade(engine)
    install_key_ring(KeyRing.from_settings(settings_for(url)))
    name = engine.dialect.name
    await engine.dispose()

    async with Receiver() as receiver:
        baseline = await bare(receiver.port, 2000)
        await receiver.arrivals()
    async with Receiver() as receiver:
        drained, delivered = await drain(url, receiver.port, count)
        arrived = await receiver.arrivals()
    keys = [key for key, _ in arrived]
    print(
        f"{name}: outbox of {count:,}: {drained:,.0f} deliveries/s, "
        f"bare signed httpx POSTs {baseline:,.0f}/s: {drained / baseline:.2f}x; "
        f"{delivered:,} delivered, {len(keys):,} received, "
        f"{len(keys) - len(set(keys))} twice (goal: >= 500/s)"
    )

    async with Receiver() as receiver:
        committed = await steady(url, receiver.port, rate, seconds, poll)
        arrived = await receiver.arrivals()
    first = {key: at for key, at in reversed(arrived)}
    waits = sorted(first[key] - at for key, at in committed.items() if key in first)
    p50, p95 = statistics.median(waits), waits[int(len(waits) * 0.95) - 1]
    print(
        f"{name}: {rate} events/s for {seconds:g} s, dispatcher polling every {poll:g} s: "
        f"commit to receipt p50 {p50 * 1000:,.0f} ms, p95 {p95 * 1000:,.0f} ms; "
        f"{len(waits):,} of {len(committed):,} received, "
        f"{len(arrived) - len(first)} twice (goal: p95 < 1 s)"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--receive"]:
        asyncio.run(receive())
    else:
        parser = command_line(__doc__)
        parser.add_argument("--outbox", type=int, default=10_000)
        parser.add_argument("--rate", type=int, default=100)
        parser.add_argument("--seconds", type=float, default=10.0)
        parser.add_argument("--poll", type=float, default=1.0)
        args = parser.parse_args()
        run_against(args.url, main, args.outbox, args.rate, args.seconds, args.poll)
