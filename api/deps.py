"""Request-scoped pieces every route reads the same way: services, the signed-in user, the client."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request
from fastapi.security import OAuth2PasswordBearer

from api.access_log import note_user
from api.services import Services
from api.web import session as web_session
from evidence import unit_of_work, users
from evidence.items import MAX_ID
from evidence.users import Principal

# Anything beyond MAX_ID is refused at the door (422) instead of overflowing inside the driver.
# Every id a route takes, in the path or a filter, uses these.
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]
# Text in request bodies: PostgreSQL cannot hold a NUL (paths and queries: api.errors.RefuseNul).
NO_NUL = r"^[^\x00]*$"

# The refusals a route that loads one item or case can answer, for the OpenAPI document.
Responses = dict[int | str, dict[str, Any]]
DENIED: Responses = {401: {}, 403: {}, 404: {}}

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


async def request_token(request: Request, bearer: Annotated[str | None, Depends(oauth2)]) -> str | None:
    """The bearer token, else the browser session's (then a request that changes anything must carry
    the session's CSRF token in ``X-CSRF-Token``)."""
    if bearer:
        return bearer
    token = web_session.token_of(request)
    if token and request.method not in web_session.SAFE_METHODS:
        web_session.check_csrf(token, request.headers.get(web_session.CSRF_HEADER))
    return token


# Trivial dependencies are ``async def`` so FastAPI runs them on the event loop: a sync one
# would cost a hop to the thread pool on every request.
async def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


def _signed_in(svc: Services, token: str | None, pending_ok: bool) -> Principal:
    who = unit_of_work.run_connection(svc.read_engine, lambda conn: users.signed_in(conn, token, pending_ok))
    note_user(who.username)
    return who


def current_user(svc: ServicesDep, token: Annotated[str | None, Depends(request_token)]) -> Principal:
    """The signed-in user behind the bearer token or session cookie (401 without a live one, 403 while it still has a
    one-time password)."""
    return _signed_in(svc, token, False)


def pending_user(svc: ServicesDep, token: Annotated[str | None, Depends(request_token)]) -> Principal:
    """As ``current_user``, but also a user who must still replace a one-time password: for the only
    routes such a token opens (choosing a password, signing out)."""
    return _signed_in(svc, token, True)


CurrentUser = Annotated[Principal, Depends(current_user)]
PendingUser = Annotated[Principal, Depends(pending_user)]
BearerToken = Annotated[str | None, Depends(request_token)]


async def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


ClientDep = Annotated[str, Depends(client_address)]
