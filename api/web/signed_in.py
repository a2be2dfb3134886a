"""Who is behind a page request: the session cookie's user, or a redirect to the sign-in page."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request

from api.deps import ServicesDep
from api.web import session
from evidence import unit_of_work, users
from evidence.errors import AuthFailed, PasswordChangeRequired
from evidence.users import Principal


class SignInRequired(Exception):
    """The page needs a signed-in user: answered with a redirect to the sign-in page."""

    def __init__(self, next_path: str, password_change: bool = False) -> None:
        super().__init__(next_path)
        self.next_path = next_path
        self.password_change = password_change


def next_target(path: str | None) -> str:
    """A path on this site to go on to after sign-in; anything else (another site) goes home."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path or len(path) > 2000:
        return ""
    return path


def redirect_target(exc: SignInRequired) -> str:
    if exc.password_change:
        return "/password"
    return "/?next=" + quote(exc.next_path, safe="") if exc.next_path not in ("", "/") else "/"


def _page_user(svc: ServicesDep, request: Request, pending_ok: bool) -> Principal:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    try:
        return unit_of_work.run_connection(
            svc.read_engine, lambda conn: users.signed_in(conn, session.token_of(request), pending_ok)
        )
    except PasswordChangeRequired:
        raise SignInRequired(here, password_change=True) from None
    except AuthFailed:
        raise SignInRequired(here) from None


def page_user(svc: ServicesDep, request: Request) -> Principal:
    """The signed-in user of a page (else a redirect to sign in, or to choose a password)."""
    return _page_user(svc, request, False)


def pending_page_user(svc: ServicesDep, request: Request) -> Principal:
    """As ``page_user``, also one who must still replace a one-time password."""
    return _page_user(svc, request, True)


PageUser = Annotated[Principal, Depends(page_user)]
PendingPageUser = Annotated[Principal, Depends(pending_page_user)]


async def form_csrf(request: Request) -> None:
    """A page's form post must carry the session's CSRF token (field or header)."""
    token = session.token_of(request) or ""
    form = await request.form()
    presented = form.get(session.CSRF_FIELD)
    session.check_csrf(token, presented if isinstance(presented, str) else request.headers.get(session.CSRF_HEADER))


FormCsrf = Depends(form_csrf)
