"""Errors met by a page request: an HTML page in the reader's language, not the API's JSON."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from api.web import i18n
from api.web.render import render

# paths that are not pages: the API, its docs, health, assets
NOT_PAGES = ("/api/", "/docs", "/redoc", "/openapi", "/healthz", "/readyz", "/metrics", "/static/")


def is_page(request: Request) -> bool:
    return not request.url.path.startswith(NOT_PAGES)


def error_page(request: Request, status: int, message: str) -> Response:
    """The error page for ``status``; ``message`` is the system's own (English) explanation."""
    _ = i18n.translations(i18n.choice(request)).gettext
    titles = {
        401: _("Please sign in"),
        403: _("Not allowed"),
        404: _("Not found"),
        409: _("Conflict"),
        413: _("Too large"),
        422: _("Invalid input"),
        429: _("Too many attempts"),
        503: _("Service unavailable"),
    }
    return render(request, "error.html", status=status, title=titles.get(status, _("Error")), message=message)
