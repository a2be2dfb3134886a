"""Browser sessions: the sign-in token in an HttpOnly cookie, and the CSRF token that goes with it.

A browser session is an API token (evidence/users.py) kept in a cookie the page's scripts cannot
read, so it expires like a token and is revoked with them (sign-out, ``users passwd``/``disable``).
A request that changes anything and is signed in by the cookie must also carry the session's CSRF
token (a form field or the ``X-CSRF-Token`` header): another site can make the browser send the
cookie (SameSite=Strict already stops most of that) but cannot read the page to learn the token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response

from evidence.errors import Forbidden

COOKIE = "evidence_session"
# before sign-in there is no session to derive a token from: the form and this cookie carry the same
# random value (double submit), so a cross-site page cannot sign the browser in as someone else
SIGNIN_COOKIE = "evidence_signin"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_token(session_token: str) -> str:
    """The CSRF token of a session: derived from it, so nothing more is stored."""
    return hashlib.sha256(b"evidence csrf\x00" + session_token.encode()).hexdigest()


def check_csrf(session_token: str, presented: str | None) -> None:
    """Forbidden unless ``presented`` is the session's CSRF token."""
    if not presented or not hmac.compare_digest(presented, csrf_token(session_token)):
        raise Forbidden("missing or wrong CSRF token: reload the page and try again")


def token_of(request: Request) -> str | None:
    return request.cookies.get(COOKIE) or None


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def set_session(response: Response, request: Request, token: str, expires: datetime) -> None:
    response.set_cookie(
        COOKIE, token, expires=expires, path="/", httponly=True, samesite="strict", secure=_secure(request)
    )


def clear_session(response: Response, request: Request) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=_secure(request))


def signin_nonce(request: Request) -> tuple[str, bool]:
    """The value the sign-in form must send back, and whether it is new (then ``set_signin_nonce``)."""
    nonce = request.cookies.get(SIGNIN_COOKIE)
    if nonce and len(nonce) <= 64:
        return nonce, False
    return secrets.token_urlsafe(24), True


def set_signin_nonce(response: Response, request: Request, nonce: str) -> None:
    response.set_cookie(SIGNIN_COOKIE, nonce, path="/", httponly=True, samesite="strict", secure=_secure(request))


def check_signin_nonce(request: Request, presented: str | None) -> None:
    expected = request.cookies.get(SIGNIN_COOKIE)
    if not expected or not presented or not hmac.compare_digest(expected, presented):
        raise Forbidden("the sign-in form has expired: reload the page and try again")
