"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from api.errors import install_error_handlers

HealthProvider = Callable[[], dict[str, Any]]


def create_app(health: HealthProvider | None = None) -> FastAPI:
    """Build the service; ``health`` reports on the daemon running beside it, if any."""
    app = FastAPI(title="Evidence management for enforcement recordings", version="0.1.0")
    install_error_handlers(app)

    @app.get("/healthz", tags=["health"])
    def healthz() -> JSONResponse:
        report = {"status": "ok"}
        if health is not None:
            daemon = health()
            report["ingest"] = daemon
            if not daemon.get("database_ok") or daemon.get("running") is False:
                report["status"] = "degraded"
        return JSONResponse(report, status_code=200 if report["status"] == "ok" else 503)

    return app
