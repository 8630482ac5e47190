"""The REST API under load, served by the real server (``opsledger serve``, uvicorn) with
10,000 hosts: requests/s and p50/p95 latency for four operations, 8 concurrent clients
over loopback, against a raw-driver baseline of the same list query in the same run.

    python bench/api.py                                   # SQLite in a temp dir
    python bench/api.py --url postgresql://postgres@127.0.0.1/bench --seconds 20

For scale: NetBox 4.6 on this machine serves its 10,000-device list (limit=50) at about
4.6 requests/s and creates about 6 devices/s; the target is 50x (230 list requests/s),
with zero errors, in particular no "database is locked" on SQLite with 8 writers.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from cryptography.fernet import Fernet
from sqlalchemy import insert
from sqlalchemy.engine import make_url

from opsledger import migrations
from opsledger.api_keys.models import ApiKey
from opsledger.config import Settings, normalize_database_url
from opsledger.db.base import utcnow
from opsledger.db.engine import create_engine
from opsledger.db.session import session_factory, unit_of_work
from opsledger.hosts.models import Host
from opsledger.security import api_keys
from opsledger.users.models import User, UserRole

NETBOX_LIST_RPS = 4.6
NETBOX_CREATE_RPS = 6.0
LIST_SQL = "SELECT * FROM hosts ORDER BY id LIMIT 51"


async def prepare(url: str, hosts: int) -> str:
    """Migrate, load ``hosts`` hosts with one multi-row insert per 1,000, and return an
    admin API key (key auth costs no bcrypt per request)."""
    engine = create_engine(Settings(database_url=url))
    await migrations.upgrade(engine)
    now = utcnow()
    rows = [
        {
            "hostname": f"bench-{n:06d}.example.com",
            "ip_address": f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}",
            "os_type": "debian",
            "environment": random.choice(["production", "staging", "dev"]),
            "tags": {"rack": f"r{n % 40}"},
            "ssh_port": 22,
            "ssh_user": "root",
            "status": "new",
            "is_active": True,
            "created_at": now,
            "updated_at": now,
        }
        for n in range(hosts)
    ]
    async with unit_of_work(session_factory(engine)) as session:
        for start in range(0, hosts, 1000):
            await session.execute(insert(Host), rows[start : start + 1000])
        admin = User(
            username="bench-admin",
            email="bench@example.com",
            password_hash="$2b$12$unused",
            role=UserRole.admin,
        )
        session.add(admin)
        await session.flush()
        material = api_keys.generate()
        session.add(
            ApiKey(
                user_id=admin.id, name="bench", prefix=material.prefix, key_hash=material.key_hash
            )
        )
    await engine.dispose()
    return material.key


async def raw_list_rate(url: str, clients: int, seconds: float) -> float:
    """The list query straight through the driver: the ceiling the API is measured against."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        import asyncpg

        pool = await asyncpg.create_pool(
            host=parsed.host,
            port=parsed.port or 5432,
            user=parsed.username,
            password=parsed.password,
            database=parsed.database,
            min_size=clients,
            max_size=clients,
        )

        async def query() -> None:
            async with pool.acquire() as connection:
                await connection.fetch(LIST_SQL)

        close: Callable[[], object] = pool.close
    elif backend == "sqlite":
        import aiosqlite

        connections = [await aiosqlite.connect(parsed.database or "") for _ in range(clients)]
        free: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        for connection in connections:
            free.put_nowait(connection)

        async def query() -> None:
            connection = await free.get()
            try:
                async with connection.execute(LIST_SQL) as cursor:
                    await cursor.fetchall()
            finally:
                free.put_nowait(connection)

        async def close_all() -> None:
            for connection in connections:
                await connection.close()

        close = close_all
    else:
        import asyncmy

        mysql_pool = await asyncmy.create_pool(
            host=parsed.host,
            port=parsed.port or 3306,
            user=parsed.username,
            password=parsed.password or "",
            db=parsed.database,
            minsize=clients,
            maxsize=clients,
        )

        async def query() -> None:
            async with mysql_pool.acquire() as connection, connection.cursor() as cursor:
                await cursor.execute(LIST_SQL)
                await cursor.fetchall()

        async def close_mysql() -> None:
            mysql_pool.close()
            await mysql_pool.wait_closed()

        close = close_mysql
    count = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal count
        while time.perf_counter() < deadline:
            await query()
            count += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    result = close()
    if asyncio.iscoroutine(result):
        await result
    return count / elapsed


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)

    def line(self, name: str, elapsed: float) -> str:
        ordered = sorted(self.latencies)
        p50 = statistics.median(ordered) * 1000
        p95 = ordered[int(len(ordered) * 0.95) - 1] * 1000
        errors = sum(self.errors.values())
        detail = f" {self.errors}" if errors else ""
        return (
            f"  {name:28} {len(ordered) / elapsed:8.1f} req/s   p50 {p50:7.1f} ms   "
            f"p95 {p95:7.1f} ms   errors {errors}{detail}"
        )


async def load(
    client: httpx.AsyncClient, request: Callable[[], httpx.Request], clients: int, seconds: float
) -> tuple[Result, float]:
    result = Result()
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            response = await client.send(request())
            result.latencies.append(time.perf_counter() - started)
            if response.status_code >= 400:
                key = f"{response.status_code} {response.text[:60]}"
                result.errors[key] = result.errors.get(key, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return result, time.perf_counter() - started


def start_server(url: str, port: int, workers: int, workdir: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSLEDGER_")} | {
        "OPSLEDGER_DATABASE_URL": url,
        "OPSLEDGER_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "OPSLEDGER_JWT_SECRET": "bench-" + "x" * 64,
    }
    command = [
        str(Path(sys.executable).with_name("opsledger")),
        "serve",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    return subprocess.Popen(
        command,
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def main(
    url: str, hosts: int, clients: int, seconds: float, port: int, workers: int, workdir: Path
) -> None:
    key = await prepare(url, hosts)
    raw = await raw_list_rate(url, clients, seconds)
    server = start_server(url, port, workers, workdir)
    base = f"http://127.0.0.1:{port}/api/v1"
    headers = {"X-API-Key": key}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    try:
        async with httpx.AsyncClient(
            base_url=base, headers=headers, limits=limits, timeout=30
        ) as client:
            for _ in range(300):
                try:
                    if (await client.get("/users/me")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            serial = itertools.count()
            deep_cursor = max(1, hosts - 500)
            scenarios = {
                "GET /healthz (harness ceiling)": lambda: client.build_request(
                    "GET", f"http://127.0.0.1:{port}/healthz"
                ),
                "GET /hosts?limit=50": lambda: client.build_request(
                    "GET", "/hosts", params={"limit": 50}
                ),
                f"GET /hosts?after={deep_cursor}": lambda: client.build_request(
                    "GET", "/hosts", params={"limit": 50, "after": deep_cursor}
                ),
                "GET /hosts/{id}": lambda: client.build_request(
                    "GET", f"/hosts/{random.randint(1, hosts)}"
                ),
                "POST /hosts": lambda: client.build_request(
                    "POST",
                    "/hosts",
                    json={
                        "hostname": f"new-{os.getpid()}-{next(serial)}.example.com",
                        "ip_address": "192.0.2.7",
                        "os_type": "debian",
                    },
                ),
            }
            backend = make_url(url).get_backend_name()
            print(
                f"{backend}: {hosts:,} hosts, {clients} concurrent clients, "
                f"{workers} server process(es), {seconds:g} s each"
            )
            rates = {}
            for name, request in scenarios.items():
                await load(client, request, clients, 1)  # warm up
                result, elapsed = await load(client, request, clients, seconds)
                rates[name] = len(result.latencies) / elapsed
                print(result.line(name, elapsed))
            list_rate = rates["GET /hosts?limit=50"]
            print(
                f"  raw driver, same list query  {raw:8.1f} q/s   API/raw ratio "
                f"{list_rate / raw:.2f}"
            )
            print(
                f"  vs NetBox 4.6: list {list_rate / NETBOX_LIST_RPS:.0f}x, "
                f"create {rates['POST /hosts'] / NETBOX_CREATE_RPS:.0f}x (target 50x)"
            )
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--url", help="an EMPTY database (default: a temporary SQLite file)")
    parser.add_argument("--hosts", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--workers", type=int, default=2, help="server processes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        database = normalize_database_url(args.url or f"sqlite:///{Path(scratch) / 'bench.db'}")
        asyncio.run(
            main(
                database,
                args.hosts,
                args.clients,
                args.seconds,
                args.port,
                args.workers,
                Path(scratch),
            )
        )
