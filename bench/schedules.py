"""1,000 schedules due in the same minute, fired by two processes at once (each running
``schedules.firing.fire_due`` as a server process's loop does) against one firing them
alone, on the same database in the same run.

    python bench/schedules.py [--url EMPTY_DB] [--schedules 1000] [--processes 2]

Each round gets its own schedules, all due at one minute; the processes start together
and fire with that minute as their clock. Prints how long until every schedule fired,
how many each process fired, and how many runs each schedule made (goal: all within
5 s with two processes, exactly one run each).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import UTC, datetime, timedelta

from cryptography.fernet import Fernet
from drivers import command_line, run_against
from sqlalchemy import func, insert, select

import opsledger.models  # noqa: F401 - every mapper, as the server has them
from opsledger import migrations
from opsledger.config import Settings
from opsledger.db.engine import create_engine
from opsledger.db.session import session_factory, unit_of_work
from opsledger.hosts.models import Host
from opsledger.playbooks.models import Playbook
from opsledger.schedules.firing import fire_due
from opsledger.schedules.models import Schedule, ScheduleFire
from opsledger.security.crypto import KeyRing, install_key_ring
from opsledger.templates.models import JobTemplate
from opsledger.users.models import User, UserRole

KEY = Fernet.generate_key().decode()


def settings_for(url: str) -> Settings:
    return Settings.model_validate({"database_url": url, "encryption_keys": [KEY]})


async def seed(url: str, count: int, due: datetime, round_name: str) -> list[int]:
    """``count`` schedules of one template (one host), all due at ``due``."""
    engine = create_engine(settings_for(url))
    async with unit_of_work(session_factory(engine)) as session:
        user = User(
            username=f"{round_name}-owner",
            email=f"{round_name}@example.com",
            password_hash="$2b$12$unused",
            role=UserRole.operator,
        )
        host = Host(
            hostname=f"{round_name}.test",
            ip_address="192.0.2.1",
            os_type="debian",
            tags={"b": round_name},
        )
        playbook = Playbook(name=round_name, file_path="site.yml", file_hash="0" * 64)
        session.add_all([user, host, playbook])
        await session.flush()
        template = JobTemplate(
            name=round_name, playbook_id=playbook.id, selector={"tags": [f"b={round_name}"]}
        )
        session.add(template)
        await session.flush()
        rows = [
            {
                "name": f"{round_name}-{n}",
                "template_id": template.id,
                "user_id": user.id,
                "launch": {},
                "cron": "* * * * *",
                "timezone": "UTC",
                "enabled": True,
                "missed": "skip",
                "overlap": "allow",
                "next_run_at": due,
            }
            for n in range(count)
        ]
        await session.execute(insert(Schedule), rows)
        ids = list(
            await session.scalars(select(Schedule.id).where(Schedule.template_id == template.id))
        )
    await engine.dispose()
    return ids


async def fire_as_a_process(url: str, start: float, now: str) -> None:
    """One firer: wait for the common start, fire, print what it fired and when it ended."""
    settings = settings_for(url)
    install_key_ring(KeyRing.from_settings(settings))
    engine = create_engine(settings)
    await asyncio.sleep(max(0.0, start - time.time()))
    fired = await fire_due(engine, settings, datetime.fromisoformat(now))
    ended = time.time()
    await engine.dispose()
    print(json.dumps({"fired": len(fired), "ended": ended}))


async def round_of(url: str, count: int, processes: int, due: datetime) -> tuple[float, list[int]]:
    """Seconds from the common start until the last process ended, and how many each
    fired."""
    await seed(url, count, due, f"r{processes}-{time.time_ns()}")
    start = time.time() + 3  # every process has imported and connected by then
    firers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--fire",
            url,
            str(start),
            due.isoformat(),
            stdout=asyncio.subprocess.PIPE,
        )
        for _ in range(processes)
    ]
    outputs = await asyncio.gather(*(firer.communicate() for firer in firers))
    assert all(firer.returncode == 0 for firer in firers)
    reports = [json.loads(out) for out, _ in outputs]
    return max(r["ended"] for r in reports) - start, [r["fired"] for r in reports]


async def main(url: str, count: int, processes: int) -> None:
    engine = create_engine(settings_for(url))
    await migrations.upgrade(engine)
    minute = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    alone, _ = await round_of(url, count, 1, minute)
    together, split = await round_of(url, count, processes, minute)
    async with engine.connect() as connection:
        per_schedule = (
            select(func.count(ScheduleFire.run_id).label("runs"))
            .group_by(ScheduleFire.schedule_id)
            .subquery()
        )
        fewest, most, schedules = (
            await connection.execute(
                select(func.min(per_schedule.c.runs), func.max(per_schedule.c.runs), func.count())
            )
        ).one()
    await engine.dispose()
    print(
        f"{engine.dialect.name}: {count:,} schedules due in one minute: "
        f"{processes} processes fired them in {together:.2f} s ({split} each), "
        f"one process alone in {alone:.2f} s ({alone / together:.2f}x); "
        f"runs per schedule over {schedules:,} schedules: min {fewest}, max {most} "
        "(goal: within 5 s, exactly 1)"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--fire"]:
        asyncio.run(fire_as_a_process(sys.argv[2], float(sys.argv[3]), sys.argv[4]))
    else:
        parser = command_line(__doc__)
        parser.add_argument("--schedules", type=int, default=1000)
        parser.add_argument("--processes", type=int, default=2)
        args = parser.parse_args()
        run_against(args.url, main, args.schedules, args.processes)
