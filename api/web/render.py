"""Pages from Jinja2 templates, in the request's language, with times in the station's time zone."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from api.web import i18n, session
from evidence.users import Principal, Role

TEMPLATES = Path(__file__).parent / "templates"


def N_(message: str) -> str:
    """Marks ``message`` for the catalogue (pybabel extract); translated where it is shown."""
    return message


# the pages each role works in, in the header's order: (path, label, roles)
NAV: list[tuple[str, str, frozenset[Role]]] = [
    ("/mine", N_("My recordings"), frozenset({Role.OFFICER})),
    ("/items", N_("Search"), frozenset({Role.REVIEWER, Role.SUPERVISOR, Role.AUDITOR})),
    ("/cases", N_("Cases"), frozenset({Role.REVIEWER, Role.SUPERVISOR, Role.AUDITOR})),
    ("/audit", N_("Audit"), frozenset({Role.AUDITOR, Role.SUPERVISOR})),
    ("/admin", N_("Admin"), frozenset({Role.ADMIN})),
]


def nav_for(who: Principal) -> list[tuple[str, str]]:
    return [(path, label) for path, label, roles in NAV if who.roles & roles]


# where each role starts its day, the first of a user's roles in this order winning
HOMES = [
    (Role.SUPERVISOR, "/items"),
    (Role.REVIEWER, "/items"),
    (Role.AUDITOR, "/audit"),
    (Role.OFFICER, "/mine"),
    (Role.ADMIN, "/admin"),
]


def home_for(who: Principal) -> str:
    """Where a user lands after signing in."""
    return next((page for role, page in HOMES if role in who.roles), "/password")


@functools.cache
def _environment(lang: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
    )
    env.install_gettext_translations(i18n.translations(lang), newstyle=True)  # type: ignore[attr-defined]
    return env


def local_time(moment: datetime | None, zone: ZoneInfo, seconds: bool = True) -> str:
    """A UTC time as the station reads it (naive times are UTC, as the database keeps them)."""
    if moment is None:
        return ""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """``template`` filled with ``context`` plus what every page shows (who, language, CSRF token)."""
    lang = i18n.choice(request)
    zone = request.app.state.services.settings.zone
    who: Principal | None = context.pop("who", None)
    token = session.token_of(request)
    env = _environment(lang)
    body = env.get_template(template).render(
        request=request,
        who=who,
        nav=nav_for(who) if who else [],
        lang=lang,
        languages=i18n.LANGUAGES,
        csrf=session.csrf_token(token) if who and token else "",
        csrf_field=session.CSRF_FIELD,
        local=lambda moment, seconds=True: local_time(moment, zone, seconds),
        zone_name=str(zone),
        **context,
    )
    # pages show evidence: never cached by the browser or a proxy, never framed by another site
    headers = {
        "Cache-Control": "no-store",
        "X-Frame-Options": "DENY",
        "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; media-src 'self'; "
        "style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'",
        "Referrer-Policy": "same-origin",
    }
    return HTMLResponse(body, status_code=status, headers=headers)
