"""Signing in and out in the browser, choosing one's own password, and the language switch."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from api.deps import ClientDep, ServicesDep
from api.web import i18n, session
from api.web.render import home_for, render
from api.web.signed_in import FormCsrf, PendingPageUser, next_target
from evidence import unit_of_work, users
from evidence.errors import AuthFailed, EvidenceError, InvalidInput

router = APIRouter(include_in_schema=False)

Text = Annotated[str, Form(max_length=1024)]


def _see_other(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


@router.get("/")
def sign_in_page(svc: ServicesDep, request: Request, next: str = "") -> Response:
    token = session.token_of(request)
    if token:
        try:
            who = unit_of_work.run_connection(svc.read_engine, lambda conn: users.signed_in(conn, token))
            return _see_other(next_target(next) or home_for(who))
        except EvidenceError:
            pass  # expired, revoked, or a one-time password: sign in again
    return _sign_in_form(request, next_target(next))


def _sign_in_form(request: Request, next_path: str, error: str = "", status: int = 200, username: str = "") -> Response:
    nonce, fresh = session.signin_nonce(request)
    response = render(
        request, "signin.html", status=status, next=next_path, error=error, username=username, nonce=nonce
    )
    if fresh:
        session.set_signin_nonce(response, request, nonce)
    response.headers["X-Sign-In"] = "1"  # a script that meets this page instead of JSON: the session ended
    return response


@router.post("/")
def sign_in(
    svc: ServicesDep,
    request: Request,
    client: ClientDep,
    username: Text,
    password: Text,
    csrf_token: Annotated[str, Form(max_length=128)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    session.check_signin_nonce(request, csrf_token)
    issued = unit_of_work.run(svc.sessions, lambda s: users.sign_in(s, username, password, client))
    if isinstance(issued, AuthFailed):
        status = 429 if issued.retry_after else 401
        return _sign_in_form(request, next_target(next), error="failed", status=status, username=username)
    response = _see_other("/password" if issued.password_change_required else next_target(next) or "/")
    session.set_session(response, request, issued.token, issued.expires)
    return response


@router.post("/signout", dependencies=[FormCsrf])
def sign_out(svc: ServicesDep, request: Request, who: PendingPageUser) -> Response:
    token = session.token_of(request) or ""
    unit_of_work.run(svc.sessions, lambda s: users.revoke(s, token))
    response = _see_other("/")
    session.clear_session(response, request)
    return response


@router.get("/password")
def password_page(request: Request, who: PendingPageUser) -> Response:
    return render(request, "password.html", who=who, error="")


@router.post("/password", dependencies=[FormCsrf])
def choose_password(
    svc: ServicesDep,
    request: Request,
    client: ClientDep,
    who: PendingPageUser,
    current_password: Text,
    new_password: Text,
    confirm_password: Text,
) -> Response:
    if new_password != confirm_password:
        return render(request, "password.html", status=422, who=who, error="mismatch")
    token = session.token_of(request)
    try:
        failure = unit_of_work.run(
            svc.sessions,
            lambda s: users.choose_password(s, who.username, current_password, new_password, token, client),
        )
    except InvalidInput as exc:
        return render(request, "password.html", status=422, who=who, error="weak", detail=str(exc))
    if failure is not None:
        return render(request, "password.html", status=403, who=who, error="wrong")
    return _see_other(home_for(who))


@router.get("/lang/{lang}")
def choose_language(request: Request, lang: str, next: str = "") -> Response:
    """Remember the language (a cookie for a year) and go back to the page."""
    response = _see_other(next_target(next) or "/")
    if lang in i18n.LANGUAGES:
        response.set_cookie(
            i18n.COOKIE, lang, max_age=365 * 86400, path="/", samesite="strict", secure=request.url.scheme == "https"
        )
    return response
