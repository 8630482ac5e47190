"""The request path under wrk (Debian's, faster than the server it loads): the real server
(``opsledger serve --workers N``) with 10,000 hosts and API-key auth, beside the floor
(a bare FastAPI route under the same uvicorn settings) and the raw driver's rate for the
same list query, all in one run.

    python bench/request_path.py [--url EMPTY_DB] [--workers 2] [--seconds 8]

Prints per route req/s, p50/p90/p99 (wrk's), the ratio to the floor, the CPU a request
of the server, the database server and wrk (each one's user and system time over the
requests answered: the machine's noise changes it far less than a rate) and the rate all
the cores would give to that work alone, for the host list the ratio to the raw driver,
and the server processes' RSS after the load (goals: the list >= 0.35x raw and >= 1,000
req/s, by id and /users/me >= 2,000 req/s, i.e. <= 1 ms of CPU a request, creating hosts
>= 300/s, RSS < 200 MB).
"""

from __future__ import annotations

import asyncio
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from drivers import command_line, run_against
from fastapi import FastAPI

from api import prepare, raw_list_rate, start_server

CONNECTIONS, THREADS = 8, 2
floor_app = FastAPI()


@floor_app.get("/ok")
async def ok() -> dict[str, bool]:
    return {"ok": True}


def serve_floor(port: int, workers: int) -> subprocess.Popen[bytes]:
    """The bare route under uvicorn, as ``opsledger serve`` runs it (head deadline, no
    server header), with access logging as the server does it."""
    code = (
        f"import sys, uvicorn; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
        "from opsledger.kit.head_deadline import HeadDeadlineProtocol; "
        f"uvicorn.run('request_path:floor_app', host='127.0.0.1', port={port}, "
        f"workers={workers}, http=HeadDeadlineProtocol, log_level='info', "
        "timeout_keep_alive=5, server_header=False)"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


# Each request a new host: a hostname no thread and no earlier request used.
CREATE_HOSTS = """
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
local sent = 0
function request()
  sent = sent + 1
  local body = string.format(
    '{"hostname": "wrk-%s-%d-%d.example.com", "ip_address": "10.77.0.1", "os_type": "debian"}',
    RUN, tid, sent)
  local headers = {["Content-Type"] = "application/json"}
  for name, value in pairs(wrk.headers) do headers[name] = value end
  return wrk.format("POST", nil, headers, body)
end
"""


def wrk(
    url: str,
    seconds: float,
    headers: dict[str, str],
    script: str | None = None,
    connections: int = CONNECTIONS,
    server: int | None = None,
    database: frozenset[str] = frozenset(),
) -> dict[str, float]:
    """req/s and the latency percentiles wrk prints (ms); ``script``: Lua making the
    requests; given the ``server``'s pid, its CPU a request (us) as ``cpu`` and the
    ``database`` server's (its processes by name; none for SQLite) as ``db_cpu``, and
    wrk's own as ``wrk_cpu``."""
    threads = min(THREADS, connections)
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--latency"]
    if script is not None:
        lua = Path(tempfile.mkdtemp()) / "requests.lua"
        lua.write_text(f'RUN = "{time.time_ns()}"\n{script}')
        command += ["-s", str(lua)]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    used = {pid: cpu_seconds(pid) for pid in processes(server)} if server else {}
    before = {pid: cpu_seconds(pid) for pid in named(database)}
    load = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    waited = resource.getrusage(resource.RUSAGE_CHILDREN)
    found = {"rate": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}  # type: ignore[union-attr]
    if server:
        answered = max(int(re.search(r"(\d+) requests in", out).group(1)), 1)  # type: ignore[union-attr]
        found["cpu"] = spent(used, processes(server)) / answered * 1e6
        found["db_cpu"] = spent(before, named(database)) / answered * 1e6
        load_cpu = waited.ru_utime + waited.ru_stime - load.ru_utime - load.ru_stime
        found["wrk_cpu"] = load_cpu / answered * 1e6
    for percent in ("50", "90", "99"):
        match = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        assert match is not None, out
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]
        found[f"p{percent}"] = float(match.group(1)) * scale
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    found["errors"] = float(errors.group(1)) if errors else 0.0
    return found


def processes(root: int) -> list[int]:
    """A process and each of its children."""
    pids = [root]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == root:
            pids.append(int(stat.parent.name))
    return pids


# Each backend's server processes by name (PostgreSQL forks one a connection).
DATABASE_SERVERS = {
    "postgresql": frozenset({"postgres"}),
    "mysql": frozenset({"mariadbd", "mysqld"}),
}
CORES = len(os.sched_getaffinity(0))


def named(names: frozenset[str]) -> list[int]:
    """The processes whose command is one of ``names``."""
    pids = []
    for comm in Path("/proc").glob("[0-9]*/comm") if names else ():
        try:
            if comm.read_text().strip() in names:
                pids.append(int(comm.parent.name))
        except OSError:
            continue
    return pids


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds a process has used (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def spent(before: dict[int, float], now: list[int]) -> float:
    """CPU seconds the processes ``now`` have used since ``before`` (one that started
    since: all of its own; a number taken by another process since: none)."""
    return sum(max(cpu_seconds(pid) - before.get(pid, 0.0), 0.0) for pid in now)


def rss_mb(root: int) -> list[float]:
    """The resident memory of a process and of each of its children, MB."""
    sizes = []
    for pid in processes(root):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        match = re.search(r"VmRSS:\s+(\d+) kB", status)
        sizes.append(int(match.group(1)) / 1024 if match else 0.0)
    return sizes


async def wait_for(url: str, headers: dict[str, str]) -> None:
    async with httpx.AsyncClient(timeout=5) as client:
        for _ in range(300):
            try:
                if (await client.get(url, headers=headers)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit(f"{url} did not answer")


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def main(url: str, workers: int, seconds: float) -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    backend = url.split(":", 1)[0].split("+", 1)[0]
    key = await prepare(url, 10_000)
    raw = await raw_list_rate(url, CONNECTIONS, seconds)
    floor_port, port = free_port(), free_port()
    floor = serve_floor(floor_port, workers)
    workdir = Path(tempfile.mkdtemp())
    server = start_server(url, port, workers, workdir)
    headers = {"X-API-Key": key}
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_for(f"http://127.0.0.1:{floor_port}/ok", {})
        await wait_for(f"{base}/api/v1/users/me", headers)
        async with httpx.AsyncClient() as client:
            listed = await client.get(f"{base}/api/v1/hosts?limit=1", headers=headers)
        host_id = listed.json()["items"][0]["id"]
        await asyncio.sleep(1)  # the workers settle
        floors = [wrk(f"http://127.0.0.1:{floor_port}/ok", seconds, {}, server=floor.pid)]
        database = DATABASE_SERVERS.get(backend, frozenset())
        routes = {
            "GET /healthz": ("/healthz", {}),
            "GET /api/v1/hosts?limit=50": ("/api/v1/hosts?limit=50", headers),
            "GET /api/v1/hosts/{id}": (f"/api/v1/hosts/{host_id}", headers),
            "GET /api/v1/users/me": ("/api/v1/users/me", headers),
        }
        measured = {
            name: wrk(base + path, seconds, sent, server=server.pid, database=database)
            for name, (path, sent) in routes.items()
        }
        measured["POST /api/v1/hosts"] = wrk(
            f"{base}/api/v1/hosts",
            seconds,
            headers,
            CREATE_HOSTS,
            server=server.pid,
            database=database,
        )
        # The floor again after the routes: a shared machine drifts, and the higher of the
        # two is the one the routes are held to.
        floors.append(wrk(f"http://127.0.0.1:{floor_port}/ok", seconds, {}, server=floor.pid))
        bare = max(floors, key=lambda measured_floor: measured_floor["rate"])
        memory = rss_mb(server.pid)
    finally:
        for process in (server, floor):
            process.terminate()
            process.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)
    print(
        f"{backend}, {workers} server processes, wrk -t{THREADS} -c{CONNECTIONS} "
        f"-d{seconds:g}s, 10,000 hosts, API-key auth, {CORES} cores"
    )
    shown_floors = " and ".join(f"{floor['rate']:,.0f}" for floor in floors)
    print(
        f"  {'bare FastAPI route (the floor)':32} {bare['rate']:8,.0f} req/s "
        f"(before and after the routes: {shown_floors}), server CPU a request "
        f"{bare['cpu']:,.0f} us"
    )
    verdicts = []
    for name, got in measured.items():
        extra = f"  raw driver {raw:,.0f} q/s: {got['rate'] / raw:.2f}x" if "limit" in name else ""
        print(
            f"  {name:32} {got['rate']:8,.0f} req/s  p50 {got['p50']:6.2f} ms  "
            f"p90 {got['p90']:6.2f} ms  p99 {got['p99']:6.2f} ms  "
            f"{got['rate'] / bare['rate']:.3f}x floor  CPU us: server {got['cpu']:5,.0f} "
            f"+ database {got['db_cpu']:5,.0f} + wrk {got['wrk_cpu']:3,.0f} = "
            f"{ceiling(got):5,.0f} req/s on {CORES} busy cores  "
            f"errors {got['errors']:.0f}{extra}"
        )
        if name in GOALS:
            verdicts.append(verdict(name, got["rate"], bare["rate"]))
        if name in ONE_MS_OF_CPU:
            verdicts.append(
                f"{name:32} server CPU {got['cpu']:,.0f} us a request, goal <= 1,000 us: "
                + ("met" if got["cpu"] <= 1000 else "not met")
            )
    verdicts.append(
        f"{'list / raw driver':32} {measured[LIST]['rate'] / raw:.2f}x, goal 0.35x: "
        + ("met" if measured[LIST]["rate"] >= 0.35 * raw else "not met")
    )
    shown = ", ".join(f"{size:,.0f}" for size in memory)
    print(f"  server RSS after the load, MB: {shown} (the parent, then each worker)")
    verdicts.append(
        f"{'RSS of each process':32} {max(memory):,.0f} MB, goal < 200 MB: "
        + ("met" if max(memory) < 200 else "not met")
    )
    print(
        f"  goals (req/s on the issue's machine, floor {ISSUE_FLOOR:,}; as they stand and "
        "scaled by this floor):"
    )
    for line in verdicts:
        print(f"    {line}")


# The issue's goals were set on a machine whose floor was 12,241 req/s: a rate there is
# this share of the floor, which is what a run on another machine can be held to.
ISSUE_FLOOR = 12_241
LIST = "GET /api/v1/hosts?limit=50"
GOALS = {
    LIST: 1_000,
    "GET /api/v1/hosts/{id}": 2_000,
    "GET /api/v1/users/me": 2_000,
    "POST /api/v1/hosts": 300,
}


# "each request's own overhead (auth lookup included) <= 1 ms of CPU": the server's CPU
# a request holds it, with the driver's work for the queries in it (the database's own
# CPU is not).
ONE_MS_OF_CPU = ("GET /api/v1/hosts/{id}", "GET /api/v1/users/me")


def ceiling(got: dict[str, float]) -> float:
    """The rate this machine's cores would give if they did nothing but this work."""
    return CORES * 1e6 / (got["cpu"] + got["db_cpu"] + got["wrk_cpu"])


def verdict(name: str, rate: float, floor: float) -> str:
    """Held to the issue's rate as it stands and scaled by this run's floor: the floor
    moves with the machine's noise more than the routes do, so both are printed."""
    goal, share = GOALS[name], GOALS[name] / ISSUE_FLOOR
    return (
        f"{name:32} {rate:,.0f} req/s, goal {goal:,}: {'met' if rate >= goal else 'not met'}; "
        f"{rate / floor:.3f}x floor, goal {share:.3f}x = {share * floor:,.0f} req/s here: "
        + ("met" if rate >= share * floor else "not met")
    )


if __name__ == "__main__":
    parser = command_line(__doc__)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    run_against(args.url, main, args.workers, args.seconds)
