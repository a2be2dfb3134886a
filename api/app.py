"""The FastAPI application factory."""

from __future__ import annotations

import logging
import os
from typing import Any

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse, Response
from fastapi_offline import FastAPIOffline

from api.access_log import AccessLog
from api.errors import RefuseNul, install_error_handlers
from api.metrics import CONTENT_TYPE, ApiMetrics, RequestMetrics
from api.openapi import install_openapi
from api.routes import (
    attribution,
    auth,
    cases,
    clips,
    custody,
    devices,
    excuses,
    exports,
    holds,
    ingest,
    items,
    jobs,
    overdue,
    reports,
    shifts,
    uploads,
    users,
)
from api.services import Services, open_services
from api.streams import thread_pools
from api.web import pages
from evidence import fixity
from evidence.unit_of_work import transaction
from storage_config.probes import HealthProvider, Readiness, health_body, readiness_body
from storage_config.settings import Settings, get_settings


def create_app(
    settings: Settings | None = None, health: HealthProvider | None = None, migrate_db: bool = True
) -> FastAPI:
    """Build the service; ``health`` reports on the daemon running beside it, if any."""
    # /docs and /redoc load Swagger UI and ReDoc from files installed with the package: stations
    # often have no internet, and a CDN would also learn who reads the API docs.
    app = FastAPIOffline(
        title="Evidence management for enforcement recordings",
        version="0.1.0",
        lifespan=thread_pools,
        static_url="/docs-assets",
        swagger_ui_parameters={"validatorUrl": None},
    )  # no online spec validator either
    settings = settings or get_settings()
    app.state.services = open_services(settings, migrate_db)
    if settings.access_log:
        app.add_middleware(AccessLog)
    install_error_handlers(app)
    app.add_middleware(RefuseNul)
    install_openapi(app)
    metrics = app.state.metrics = ApiMetrics(app.state.services.reads)
    app.add_middleware(RequestMetrics, histogram=metrics.requests)  # outermost: sees every answer
    app.include_router(auth.router)
    app.include_router(items.router)
    app.include_router(attribution.router)
    app.include_router(cases.router)
    app.include_router(uploads.router)
    app.include_router(clips.router)
    app.include_router(users.router)
    app.include_router(devices.router)
    app.include_router(ingest.router)
    app.include_router(custody.router)
    app.include_router(excuses.router)
    app.include_router(reports.router)
    app.include_router(shifts.router)
    app.include_router(overdue.router)
    app.include_router(holds.router)
    app.include_router(exports.router)
    app.include_router(jobs.router)
    pages.install(app)

    readiness = app.state.readiness = Readiness(app.state.services.engine, app.state.services.store)

    @app.get("/healthz", tags=["health"])
    def healthz() -> Response:
        """Alive: 200 while the process runs its loops (the daemon's report in the body), else 503."""
        return health_response(health, lambda: fixity_report(app.state.services))

    @app.get("/readyz", tags=["health"], responses={503: {"description": "The database or the store is unreachable"}})
    def readyz() -> Response:
        """Ready: 200 when the database and the store answer now, else 503 naming which did not."""
        code, body = readiness_body(readiness)
        return Response(body, status_code=code, media_type="application/json")

    @app.get("/metrics", tags=["health"], response_class=PlainTextResponse)
    def metrics_endpoint() -> Response:
        """Prometheus text format: requests, jobs, fixity alarms, late uploads, custody log, ingest."""
        return Response(metrics.exposition(), media_type=CONTENT_TYPE)

    return app


def fixity_report(svc: Services) -> dict[str, Any]:
    """How many items are in fixity alarm: one read, no retries (health answers at once, even in an outage)."""
    try:
        with transaction(svc.reads) as session:
            count = fixity.alarm_count(session)
    except Exception as exc:  # noqa: BLE001 - health must answer; the count is then unknown
        return {"items_in_alarm": None, "error": f"could not count: {type(exc).__name__}"}
    return {"items_in_alarm": count}


def health_response(health: HealthProvider | None, fixity_counts: HealthProvider | None = None) -> Response:
    """200 while alive (``ok``, or ``degraded`` with the daemon's report), 503 ``down``; never a 500.

    Fixity alarms are reported (``fixity.items_in_alarm``), not a 503: the service still works, and a
    monitor that restarts what answers 503 would mend nothing; alert on the counter instead.
    """
    code, body = health_body(health, {"fixity": fixity_counts} if fixity_counts is not None else None)
    return Response(body, status_code=code, media_type="application/json")


def worker_app() -> FastAPI:
    """Factory for ``evidence serve --workers N``: settings from the environment; the parent migrated."""
    # a worker process starts afresh: without this its access log (INFO) would go nowhere
    logging.basicConfig(
        level=os.environ.get("EVIDENCE_LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # the parent migrated, unless the database was unreachable then: each worker does once it answers
    return create_app(migrate_db=os.environ.get("_EVIDENCE_MIGRATE_IN_WORKERS") == "1")
