"""Sign-in (OAuth2 password flow), sign-out, and who am I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

from api.deps import BearerToken, ClientDep, CurrentUser, ServicesDep
from evidence import users
from evidence.db import transaction, with_db_retry
from evidence.errors import AuthFailed
from evidence.items import iso

router = APIRouter(prefix="/api/v1", tags=["auth"])


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: str


class MeOut(BaseModel):
    username: str
    unit: str
    roles: list[str]
    officer_id: str | None


@router.post("/auth/token", response_model=TokenOut, responses={401: {}, 429: {}})
def sign_in(svc: ServicesDep, client: ClientDep, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> TokenOut:
    """Exchange username and password for a bearer token; failures are throttled."""
    failure: list[AuthFailed] = []

    def attempt() -> tuple[str, str] | None:
        with transaction(svc.sessions) as session:
            try:
                user = users.authenticate(session, form.username, form.password, client)
            except AuthFailed as exc:
                failure.append(exc)  # the failure count must commit, so this transaction ends normally
                return None
            token, expires = users.issue_token(session, user)
            return token, iso(expires)

    issued = with_db_retry(attempt)
    if issued is None:
        raise failure[-1]
    return TokenOut(access_token=issued[0], expires_at=issued[1])


@router.post("/auth/revoke", status_code=204, responses={401: {}})
def sign_out(svc: ServicesDep, who: CurrentUser, token: BearerToken) -> Response:
    """Revoke the token this request carries."""
    with transaction(svc.sessions) as session:
        users.revoke(session, token or "")
    return Response(status_code=204)


@router.get("/me", response_model=MeOut, responses={401: {}})
def me(who: CurrentUser) -> MeOut:
    return MeOut(username=who.username, unit=who.unit, roles=sorted(r.value for r in who.roles),
                 officer_id=who.officer_id)
