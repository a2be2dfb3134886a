"""The one mapping from domain errors to HTTP responses: ``{"error": {"code", "message"}}``."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from evidence import errors

STATUS = [
    (errors.NotFound, 404, "not_found"),
    (errors.InvalidInput, 422, "invalid_input"),
    (errors.ConfigError, 500, "config_error"),
    (errors.Unavailable, 503, "unavailable"),
    (errors.IntegrityFailure, 500, "integrity_failure"),
    (errors.MediaError, 422, "media_error"),
    (errors.EvidenceError, 500, "error"),
]


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(errors.EvidenceError)
    async def _domain_error(_request: Request, exc: errors.EvidenceError) -> JSONResponse:
        for cls, status, code in STATUS:
            if isinstance(exc, cls):
                return JSONResponse({"error": {"code": code, "message": str(exc)}}, status_code=status)
        raise exc  # unreachable: EvidenceError is last in STATUS
