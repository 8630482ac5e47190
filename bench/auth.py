"""API-key authentication cost: requests/s for an API-key-authenticated GET against the
ASGI app vs the same handler unauthenticated, measured in the same run.

    python bench/auth.py                                  # SQLite in a temp dir
    python bench/auth.py --url postgresql://postgres@127.0.0.1/bench --seconds 10

Both routes run the same handler (one primary-key SELECT of a host role); the keyed one adds
the API-key dependency: prefix lookup, SHA-256, expiry/revocation/owner checks. The
target is ratio >= 0.8, i.e. key auth costs well under a millisecond per request.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Annotated

import httpx
from cryptography.fernet import Fernet
from drivers import command_line, run_against
from fastapi import Depends
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from opsledger import migrations
from opsledger.api_keys.models import ApiKey
from opsledger.app import create_app
from opsledger.config import Settings
from opsledger.db.dependencies import ReadSession
from opsledger.db.engine import create_engine
from opsledger.db.session import session_factory, unit_of_work
from opsledger.host_roles.models import HostRole
from opsledger.security import api_keys
from opsledger.security.auth import RequireRead
from opsledger.security.context import Ctx
from opsledger.users.models import User, UserRole


async def prepare(settings: Settings) -> tuple[int, str]:
    engine = create_engine(settings)
    await migrations.upgrade(engine)
    async with unit_of_work(session_factory(engine)) as session:
        user = User(
            username=f"bench-{time.time_ns()}",
            email=f"b{time.time_ns()}@example.com",
            password_hash="$2b$12$unused",
            role=UserRole.viewer,
        )
        session.add(user)
        await session.flush()
        role = HostRole(name=f"bench-{time.time_ns()}")
        session.add(role)
        material = api_keys.generate()
        session.add(
            ApiKey(
                user_id=user.id, name="bench", prefix=material.prefix, key_hash=material.key_hash
            )
        )
        await session.flush()
        role_id = role.id
    await engine.dispose()
    return role_id, material.key


async def hammer(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], seconds: float, workers: int
) -> float:
    count = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal count
        while time.perf_counter() < deadline:
            response = await client.get(url, headers=headers)
            if response.status_code != 200:
                raise SystemExit(f"{url}: {response.status_code} {response.text}")
            count += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return count / (time.perf_counter() - started)


async def main(url: str, seconds: float, workers: int, rounds: int) -> None:
    settings = Settings(
        database_url=url,
        encryption_keys=[SecretStr(Fernet.generate_key().decode())],
        jwt_secret=SecretStr("bench-" + "x" * 64),
    )
    role_id, key = await prepare(settings)
    app = create_app(settings)

    async def handler(session: AsyncSession) -> dict[str, str]:
        role = await session.get(HostRole, role_id)
        return {"name": role.name if role else ""}

    @app.get("/bench/open")
    async def open_route(session: ReadSession) -> dict[str, str]:
        return await handler(session)

    @app.get("/bench/keyed")
    async def keyed_route(ctx: Annotated[Ctx, Depends(RequireRead("self"))]) -> dict[str, str]:
        return await handler(ctx.session)

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        await hammer(client, "/bench/open", {}, 1, workers)  # warm up pools and caches
        await hammer(client, "/bench/keyed", {"X-API-Key": key}, 1, workers)
        open_rates, keyed_rates = [], []
        for _ in range(rounds):  # interleaved, so machine noise hits both alike
            open_rates.append(await hammer(client, "/bench/open", {}, seconds, workers))
            keyed_rates.append(
                await hammer(client, "/bench/keyed", {"X-API-Key": key}, seconds, workers)
            )
    await app.state.database.dispose()

    open_rate, keyed_rate = statistics.median(open_rates), statistics.median(keyed_rates)
    cost_ms = (1 / keyed_rate - 1 / open_rate) * 1000
    backend = url.split(":", 1)[0]
    print(
        f"{backend} auth: unauthenticated {open_rate:,.0f} req/s, api-key {keyed_rate:,.0f} req/s, "
        f"ratio {keyed_rate / open_rate:.2f}, auth cost {cost_ms:.3f} ms/request "
        f"({workers} concurrent clients, median of {rounds} x {seconds:g} s)"
    )


if __name__ == "__main__":
    parser = command_line(__doc__)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    run_against(args.url, main, args.seconds, args.workers, args.rounds)
