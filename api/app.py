"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from api.errors import RefuseNul, install_error_handlers
from api.openapi import install_openapi
from api.routes import auth, cases, clips, custody, items, uploads
from api.services import open_services
from api.streams import thread_pools
from storage_config.settings import Settings, get_settings

HealthProvider = Callable[[], dict[str, Any]]


def create_app(settings: Settings | None = None, health: HealthProvider | None = None,
               migrate_db: bool = True) -> FastAPI:
    """Build the service; ``health`` reports on the daemon running beside it, if any."""
    app = FastAPI(title="Evidence management for enforcement recordings", version="0.1.0", lifespan=thread_pools)
    app.state.services = open_services(settings or get_settings(), migrate_db)
    install_error_handlers(app)
    app.add_middleware(RefuseNul)
    install_openapi(app)
    app.include_router(auth.router)
    app.include_router(items.router)
    app.include_router(cases.router)
    app.include_router(uploads.router)
    app.include_router(clips.router)
    app.include_router(custody.router)

    @app.get("/healthz", tags=["health"])
    def healthz() -> JSONResponse:
        report: dict[str, Any] = {"status": "ok"}
        if health is not None:
            daemon = health()
            report["ingest"] = daemon
            if not daemon.get("database_ok") or daemon.get("running") is False:
                report["status"] = "degraded"
        return JSONResponse(report, status_code=200 if report["status"] == "ok" else 503)

    return app


def worker_app() -> FastAPI:
    """Factory for ``evidence serve --workers N``: settings from the environment; the parent migrated."""
    return create_app(migrate_db=False)
