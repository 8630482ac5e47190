"""Prometheus metrics, named ``opsledger_*`` with base units (seconds, totals).

Counters and histograms are updated where things happen (requests, logins, ingest, the
audit trail, job ends); the connection pools and jobs-by-status are read when scraped.
Each process keeps its own numbers: scrape every server process, and note that Celery
workers expose none (their jobs are counted by whoever serves /metrics, from the
database)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.datastructures import MutableHeaders
from starlette.routing import Mount
from starlette.types import Scope

from opsledger.kit.asgi import ResponseStartMiddleware

HTTP_REQUESTS = Counter(
    "opsledger_http_requests", "HTTP requests answered.", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "opsledger_http_request_duration_seconds",
    "Time to answer an HTTP request (until the response starts).",
    ["method", "route"],
)
FAILED_LOGINS = Counter(
    "opsledger_failed_logins",
    "Login attempts refused (any reason), and wrong passwords typed again to confirm an action.",
)
JOBS = Gauge("opsledger_jobs", "Jobs in the database, by status.", ["status"])
JOB_DURATION = Histogram(
    "opsledger_job_duration_seconds",
    "Time from a job's start to its end, by final status.",
    ["status"],
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, float("inf")),
)
LOG_LINES = Counter("opsledger_log_lines_ingested", "Job output lines committed.")
INGEST_FLUSH = Histogram(
    "opsledger_ingest_flush_duration_seconds",
    "Time to commit one batch of job output lines.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, float("inf")),
)
AUDIT_ROWS = Counter(
    "opsledger_audit_rows_written",
    "Audit rows appended (counted when written, before their transaction commits).",
)
NOTIFICATION_ATTEMPTS = Counter(
    "opsledger_notification_attempts",
    "Attempts to send a notification, by channel kind and what came of the delivery "
    "(delivered, retry, dead).",
    ["kind", "outcome"],
)
NOTIFICATION_OUTBOX = Gauge(
    "opsledger_notification_outbox", "Deliveries not yet sent, by status.", ["status"]
)
NOTIFICATION_OLDEST = Gauge(
    "opsledger_notification_oldest_pending_seconds",
    "Age of the oldest delivery not yet sent (0 when none waits).",
)

UNMATCHED = "unmatched"


class PoolCollector(Collector):
    """Connections of each engine's pool, read at scrape time."""

    def __init__(self) -> None:
        self.engines: dict[str, AsyncEngine] = {}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "opsledger_db_pool_connections",
            "Database connections by pool and state (size, checked_out, overflow).",
            labels=["pool", "state"],
        )
        for name, engine in self.engines.items():
            pool: Any = engine.pool
            for state in ("size", "checkedout", "overflow"):
                reading = getattr(pool, state, None)
                if reading is not None:
                    label = "checked_out" if state == "checkedout" else state
                    family.add_metric([name, label], float(reading()))
        yield family


POOLS = PoolCollector()
REGISTRY.register(POOLS)


def route_template(scope: Scope) -> str:
    """The matched route's template with the prefixes of the routers it sits in. FastAPI
    keeps a route's path relative to the outermost prefix, which is literal, so those
    leading segments are taken from the request path."""
    route = scope.get("route")
    route_path = getattr(route, "path", None)
    if route_path is None:
        return UNMATCHED
    if isinstance(route, Mount):  # static files: one label, whatever path was asked for
        return f"{route_path}/{{path}}"
    actual = scope["path"].rstrip("/").split("/")
    relative = route_path.rstrip("/").split("/")
    prefix = "/".join(actual[: len(actual) - len(relative) + 1])
    return f"{prefix}{route_path}"


class MetricsMiddleware(ResponseStartMiddleware):
    """Counts and times every request by method, route template and status; the route
    template (``/api/v1/hosts/{host_id}``), never the raw path, keeps the label set small."""

    def begin(self, scope: Scope) -> float:
        return time.perf_counter()

    def started(self, scope: Scope, begun: Any, status: int, headers: MutableHeaders) -> None:
        template = route_template(scope)
        HTTP_LATENCY.labels(scope["method"], template).observe(time.perf_counter() - begun)
        HTTP_REQUESTS.labels(scope["method"], template, str(status)).inc()
