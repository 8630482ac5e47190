"""The ASGI application: routers, error handling and the database it serves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.ext.asyncio import AsyncEngine
from swagger_ui_bundle import swagger_ui_path

import opsledger.models  # noqa: F401 - every mapper registered before first use
from opsledger.alerts.endpoints import router as alerts_router
from opsledger.api_keys.endpoints import router as api_keys_router
from opsledger.applications.endpoints import router as applications_router
from opsledger.audit.endpoints import router as audit_router
from opsledger.config import JobBackend, Settings
from opsledger.credentials.endpoints import router as credentials_router
from opsledger.db.dependencies import Database
from opsledger.db.engine import create_engine
from opsledger.deployments.endpoints import router as deployments_router
from opsledger.freeze_windows.endpoints import router as freeze_windows_router
from opsledger.host_roles.endpoints import router as host_roles_router
from opsledger.hosts.endpoints import router as hosts_router
from opsledger.infrastructure.endpoints import router as infrastructure_router
from opsledger.jobs.endpoints import router as jobs_router
from opsledger.kit.http import install_error_handlers
from opsledger.kit.limits import RequestLimits
from opsledger.kit.metrics import POOLS, MetricsMiddleware
from opsledger.kit.request_ids import RequestIdMiddleware
from opsledger.kit.routers import EVERY_ROUTE, Route, add_routes
from opsledger.kit.security_headers import SecurityHeadersMiddleware, allowing_inline_scripts
from opsledger.notifications.endpoints import routers as notification_routers
from opsledger.ops.probes import router as ops_router
from opsledger.playbooks.endpoints import router as playbooks_router
from opsledger.runs.endpoints import router as runs_router
from opsledger.schedules.endpoints import router as schedules_router
from opsledger.secrets.endpoints import router as secrets_router
from opsledger.security.crypto import KeyRing, install_key_ring
from opsledger.security.throttle import LoginThrottle
from opsledger.stats.endpoints import router as stats_router
from opsledger.templates.endpoints import router as templates_router
from opsledger.tickets.endpoints import router as tickets_router
from opsledger.triggers.endpoints import hooks_router
from opsledger.triggers.endpoints import router as triggers_router
from opsledger.users.endpoints import auth_router
from opsledger.users.endpoints import router as users_router
from opsledger.web.account import router as account_pages_router
from opsledger.web.alerts import router as alert_pages_router
from opsledger.web.audit import router as audit_pages_router
from opsledger.web.catalogue import router as catalogue_pages_router
from opsledger.web.deployments import router as deployment_pages_router
from opsledger.web.freeze_windows import router as freeze_window_pages_router
from opsledger.web.host_roles import router as host_role_pages_router
from opsledger.web.hosts import router as host_pages_router
from opsledger.web.job_templates import router as template_pages_router
from opsledger.web.jobs import router as job_pages_router
from opsledger.web.notifications import router as notification_pages_router
from opsledger.web.pages import router as pages_router
from opsledger.web.playbooks import router as playbook_pages_router
from opsledger.web.runs import router as run_pages_router
from opsledger.web.schedules import router as schedule_pages_router
from opsledger.web.secrets import router as secret_pages_router
from opsledger.web.system import router as system_pages_router
from opsledger.web.tickets import router as ticket_pages_router
from opsledger.web.triggers import router as trigger_pages_router
from opsledger.web.users import router as user_pages_router
from opsledger.worker.pool import JobPool

STATIC = Path(__file__).parent / "web" / "static"


def create_app(
    settings: Settings | None = None,
    engine: AsyncEngine | None = None,
    key_ring: KeyRing | None = None,
) -> FastAPI:
    settings = settings or Settings().with_key_file()
    if key_ring is not None or settings.has_encryption_key:
        install_key_ring(key_ring or KeyRing.from_settings(settings))
    replica = (
        create_engine(settings, settings.database_replica_url)
        if settings.database_replica_url
        else None
    )
    db = Database(engine or create_engine(settings), replica)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Embedded backend: this process runs jobs. Either way it reaps dead workers' jobs.
        embedded = settings.job_backend is JobBackend.embedded
        pool = JobPool(db.engine, settings, settings.job_concurrency if embedded else 0)
        pool.start()
        yield
        await pool.stop()
        await db.dispose()

    app = FastAPI(
        title="opsledger",
        version="0.1.0",
        summary="System of record and control plane for infrastructure automation.",
        lifespan=lifespan,
        # The interactive docs are served from the package below: no CDN, works offline.
        docs_url=None,
        redoc_url=None,
        dependencies=EVERY_ROUTE,
    )
    # Every route the application itself declares is a Route too (kit/routers.py).
    app.router.route_class = Route
    app.state.settings = settings
    app.state.database = db
    app.state.login_throttle = LoginThrottle.from_settings(settings)
    app.add_middleware(
        RequestLimits,
        max_bytes=settings.max_body_bytes,
        body_seconds=settings.body_timeout_seconds,
    )
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(MetricsMiddleware)
    install_error_handlers(app)
    api = (
        auth_router,
        users_router,
        api_keys_router,
        secrets_router,
        audit_router,
        host_roles_router,
        hosts_router,
        credentials_router,
        playbooks_router,
        templates_router,
        schedules_router,
        freeze_windows_router,
        triggers_router,
        hooks_router,
        infrastructure_router,
        applications_router,
        deployments_router,
        jobs_router,
        runs_router,
        tickets_router,
        alerts_router,
        *notification_routers,
        stats_router,
    )
    console_pages = (
        pages_router,
        job_pages_router,
        template_pages_router,
        run_pages_router,
        schedule_pages_router,
        freeze_window_pages_router,
        trigger_pages_router,
        ticket_pages_router,
        host_pages_router,
        host_role_pages_router,
        playbook_pages_router,
        deployment_pages_router,
        alert_pages_router,
        notification_pages_router,
        audit_pages_router,
        account_pages_router,
        user_pages_router,
        secret_pages_router,
        system_pages_router,
        catalogue_pages_router,
    )
    add_routes(app, (*api, ops_router, *console_pages))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.mount("/docs/assets", StaticFiles(directory=swagger_ui_path), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="opsledger API",
            swagger_js_url="/docs/assets/swagger-ui-bundle.js",
            swagger_css_url="/docs/assets/swagger-ui.css",
            swagger_favicon_url="/docs/assets/favicon-32x32.png",
        )
        page.headers["Content-Security-Policy"] = allowing_inline_scripts(bytes(page.body))
        return page

    POOLS.engines = {"primary": db.engine, **({"replica": replica} if replica else {})}

    return app
