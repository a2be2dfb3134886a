"""Sign-in (OAuth2 password flow), sign-out, who am I, and choosing one's own password."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field

from api.deps import BearerToken, ClientDep, CurrentUser, PendingUser, ServicesDep
from evidence import unit_of_work, users
from evidence.errors import AuthFailed
from evidence.items import iso

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
    issued = unit_of_work.run(svc.sessions, lambda s: users.sign_in(s, form.username, form.password, client))
    if isinstance(issued, AuthFailed):
        raise issued
    return TokenOut(
        access_token=issued.token,
        expires_at=iso(issued.expires),
        password_change_required=issued.password_change_required,
    )


@router.post("/auth/revoke", status_code=204, responses={401: {}})
def sign_out(svc: ServicesDep, who: PendingUser, token: BearerToken) -> Response:
    """Revoke the token this request carries."""
    unit_of_work.run(svc.sessions, lambda s: users.revoke(s, token or ""))
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
    failure = unit_of_work.run(
        svc.sessions,
        lambda s: users.choose_password(s, who.username, body.current_password, body.new_password, token, client),
    )
    if failure is not None:
        raise failure
    return Response(status_code=204)
