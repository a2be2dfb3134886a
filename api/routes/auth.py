"""Sign-in (OAuth2 password flow), sign-out, who am I, and choosing one's own password."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field

from api.deps import BearerToken, ClientDep, CurrentUser, PendingUser, ServicesDep
from evidence import users
from evidence.errors import AuthFailed, Forbidden
from evidence.items import iso
from evidence.unit_of_work import transaction, with_db_retry

router = APIRouter(prefix="/api/v1", tags=["auth"])


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: str
    # True for a one-time password: the token only opens POST /api/v1/me/password and sign-out
    password_change_required: bool = False


class PasswordChangeIn(BaseModel):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


class MeOut(BaseModel):
    username: str
    unit: str
    roles: list[str]
    officer_id: str | None


@router.post("/auth/token", response_model=TokenOut, responses={401: {}, 429: {}})
def sign_in(svc: ServicesDep, client: ClientDep, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> TokenOut:
    """Exchange username and password for a bearer token; failures are throttled."""
    failure: list[AuthFailed] = []

    def attempt() -> TokenOut | None:
        with transaction(svc.sessions) as session:
            try:
                user = users.authenticate(session, form.username, form.password, client)
            except AuthFailed as exc:
                failure.append(exc)  # the failure count must commit, so this transaction ends normally
                return None
            token, expires = users.issue_token(session, user)
            return TokenOut(
                access_token=token, expires_at=iso(expires), password_change_required=user.must_change_password
            )

    issued = with_db_retry(attempt)
    if issued is None:
        raise failure[-1]
    return issued


@router.post("/auth/revoke", status_code=204, responses={401: {}})
def sign_out(svc: ServicesDep, who: PendingUser, token: BearerToken) -> Response:
    """Revoke the token this request carries."""
    with transaction(svc.sessions) as session:
        users.revoke(session, token or "")
    return Response(status_code=204)


@router.get("/me", response_model=MeOut, responses={401: {}})
def me(who: CurrentUser) -> MeOut:
    return MeOut(
        username=who.username, unit=who.unit, roles=sorted(r.value for r in who.roles), officer_id=who.officer_id
    )


@router.post("/me/password", status_code=204, responses={401: {}, 403: {}, 422: {}, 429: {}})
def change_password(
    svc: ServicesDep, who: PendingUser, client: ClientDep, token: BearerToken, body: PasswordChangeIn
) -> Response:
    """Choose your own password (required after a one-time one). This token stays valid; your other
    tokens are revoked. A wrong current password counts as a failed sign-in."""
    failure: list[AuthFailed] = []

    def attempt() -> bool:
        with transaction(svc.sessions) as session:
            try:
                users.change_password(session, who.username, body.current_password, body.new_password, token, client)
            except AuthFailed as exc:
                failure.append(exc)  # as at sign-in, the failure count must commit
                return False
            return True

    if not with_db_retry(attempt):
        exc = failure[-1]
        if exc.retry_after:
            raise exc
        # the token is good, so not 401: the caller only mistyped the current password
        raise Forbidden("current_password: wrong password")
    return Response(status_code=204)
