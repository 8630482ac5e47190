"""Following a job's output as server-sent events: every line exactly once, in order,
resumable with Last-Event-ID, ending with the job's final status."""

from __future__ import annotations

import asyncio
import json

import httpx
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.db.session import session_factory, unit_of_work
from opsledger.models import Job
from opsledger.worker.ingest import LogWriter
from tests import factories as f
from tests.api import Person


def parse(stream: str) -> list[tuple[str, str | None, dict[str, object]]]:
    """(event, id, data) of every event with data."""
    events = []
    for block in stream.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "data" in fields:
            events.append(
                (fields.get("event", "message"), fields.get("id"), json.loads(fields["data"]))
            )
    return events


async def test_a_follower_gets_every_line_once_in_order_until_the_job_ends(
    client: httpx.AsyncClient, viewer: Person, engine: AsyncEngine
) -> None:
    async with unit_of_work(session_factory(engine)) as session:
        job = await f.make_job(session, status="running")
    writer = LogWriter(engine, job.id, job.created_at, batch_lines=50)
    await writer.write_many(f"early {n}" for n in range(1, 101))
    await writer.flush()

    async def run_the_job() -> None:
        for n in range(101, 1101):
            await writer.write(f"late {n}")
            if n % 100 == 0:
                await asyncio.sleep(0.05)
        await writer.close()
        async with engine.begin() as connection:
            await connection.execute(update(Job).where(Job.id == job.id).values(status="success"))

    follow, _ = await asyncio.gather(
        client.get(f"/jobs/{job.id}/logs/stream", headers=viewer.headers, timeout=60),
        run_the_job(),
    )

    assert follow.status_code == 200
    assert follow.headers["content-type"].startswith("text/event-stream")
    events = parse(follow.text)
    lines = [data for kind, _, data in events if kind == "line"]
    assert [line["line_number"] for line in lines] == list(range(1, 1101))
    assert [event[1] for event in events if event[0] == "line"] == [str(n) for n in range(1, 1101)]
    assert events[-1] == ("end", None, {"status": "success"})


async def test_reconnecting_with_last_event_id_resumes_after_that_line(
    client: httpx.AsyncClient, viewer: Person, engine: AsyncEngine
) -> None:
    async with unit_of_work(session_factory(engine)) as session:
        job = await f.make_job(session, status="failed")
    writer = LogWriter(engine, job.id, job.created_at)
    await writer.write_many(f"line {n}" for n in range(1, 31))
    await writer.close()

    resumed = await client.get(
        f"/jobs/{job.id}/logs/stream", headers=viewer.headers | {"Last-Event-ID": "25"}
    )
    numbers = [data["line_number"] for kind, _, data in parse(resumed.text) if kind == "line"]

    assert numbers == [26, 27, 28, 29, 30]
    assert parse(resumed.text)[-1] == ("end", None, {"status": "failed"})
    assert (
        await client.get("/jobs/99999999/logs/stream", headers=viewer.headers)
    ).status_code == 404
    bad = await client.get(
        f"/jobs/{job.id}/logs/stream", headers=viewer.headers | {"Last-Event-ID": "x"}
    )
    assert bad.status_code == 422
