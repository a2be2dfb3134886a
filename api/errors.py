"""The one mapping from errors to HTTP responses: ``{"error": {"code", "message"}}``."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError, OperationalError, ProgrammingError
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from api.ranges import RangeNotSatisfiable
from api.web.errors import error_page, is_page
from evidence import errors

STATUS: list[tuple[type[errors.EvidenceError], int, str]] = [
    (RangeNotSatisfiable, 416, "range_not_satisfiable"),
    (errors.TooLarge, 413, "too_large"),
    (errors.Gone, 410, "gone"),
    (errors.NotFound, 404, "not_found"),
    (errors.AuthFailed, 401, "unauthorized"),
    (errors.PasswordChangeRequired, 403, "password_change_required"),
    (errors.Forbidden, 403, "forbidden"),
    (errors.Conflict, 409, "conflict"),
    (errors.InvalidInput, 422, "invalid_input"),
    (errors.MediaError, 422, "media_error"),
    (errors.Unavailable, 503, "unavailable"),
    (errors.ConfigError, 500, "config_error"),
    (errors.IntegrityFailure, 500, "integrity_failure"),
    (errors.EvidenceError, 500, "error"),
]


def error_body(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message}}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(errors.EvidenceError)
    async def _domain(request: Request, exc: errors.EvidenceError) -> Response:
        status, code = next((s, c) for cls, s, c in STATUS if isinstance(exc, cls))
        if is_page(request):
            return error_page(request, status, str(exc))
        headers = {}
        if isinstance(exc, errors.AuthFailed):
            headers["WWW-Authenticate"] = "Bearer"
            if exc.retry_after:
                status, code = 429, "too_many_attempts"
                headers["Retry-After"] = str(exc.retry_after)
        if isinstance(exc, RangeNotSatisfiable):
            headers["Content-Range"] = f"bytes */{exc.size}"
        body = error_body(code, str(exc))
        if isinstance(exc, errors.PasswordChangeRequired):
            # the project's shape, plus the flat keys clients of the contract read
            body.update(detail=str(exc), code=code)
        return JSONResponse(body, status_code=status, headers=headers)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        if is_page(request) and exc.status_code in (404, 405):
            return error_page(request, exc.status_code, str(exc.detail))
        code = {
            400: "bad_request",
            401: "unauthorized",
            403: "forbidden",
            404: "not_found",
            405: "method_not_allowed",
        }.get(exc.status_code, "http_error")
        return JSONResponse(
            error_body(code, str(exc.detail)), status_code=exc.status_code, headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(OperationalError)
    async def _database_down(_request: Request, exc: OperationalError) -> JSONResponse:
        # every route's transaction may meet a database that is down or still migrating
        return JSONResponse(error_body("unavailable", f"database unavailable: {exc.orig}"), status_code=503)

    @app.exception_handler(ProgrammingError)
    async def _not_migrated(_request: Request, exc: ProgrammingError) -> JSONResponse:
        # PostgreSQL reachable at last but not yet migrated (the API migrates it in the background):
        # a missing table (SQLSTATE 42P01) is that moment, a 503; any other is a bug, a 500
        if getattr(exc.orig, "sqlstate", None) == "42P01":
            return JSONResponse(error_body("unavailable", "database not migrated yet"), status_code=503)
        raise exc

    @app.exception_handler(DataError)
    async def _refused_value(_request: Request, exc: DataError) -> JSONResponse:
        # A value the database cannot hold (out of range, too long, a NUL on PostgreSQL) is the
        # caller's input; the routes refuse those at the door, this keeps any that slip by a 4xx.
        return JSONResponse(
            error_body("invalid_input", f"a value the database cannot hold: {exc.orig}"), status_code=422
        )

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        # A safety net: a bug still answers in the one error format (Starlette re-raises it after
        # this answer, so the server logs the traceback).
        return JSONResponse(error_body("internal_error", f"unexpected error: {type(exc).__name__}"), status_code=500)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        if is_page(request):
            return error_page(request, 422, problems)
        return JSONResponse(error_body("invalid_input", problems), status_code=422)


class RefuseNul:
    """ASGI middleware: a NUL character in the path or query string is a 422 before any route runs.

    PostgreSQL cannot store or even compare text holding NUL, and no name, number or reason here
    needs one; request bodies are checked by their models (``NO_NUL``).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = scope.get("query_string", b"")
        if scope["type"] == "http" and ("\x00" in scope["path"] or b"%00" in query or b"\x00" in query):
            response = JSONResponse(
                error_body("invalid_input", "a NUL character is not allowed in a request"), status_code=422
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
