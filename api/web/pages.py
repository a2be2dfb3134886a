"""Wiring the pages into the application: routes, static assets, the sign-in redirect."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from api.web import admin, audit, cases, items, mine, signin
from api.web.signed_in import SignInRequired, redirect_target

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    """Add the pages to ``app``."""
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(signin.router)
    app.include_router(items.router)
    app.include_router(cases.router)
    app.include_router(mine.router)
    app.include_router(audit.router)
    app.include_router(admin.router)

    @app.exception_handler(SignInRequired)
    async def _sign_in(_request: Request, exc: SignInRequired) -> RedirectResponse:
        return RedirectResponse(redirect_target(exc), status_code=303)
