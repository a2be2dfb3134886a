"""Accounts, for administrators: list, add (with a one-time password), reset a password, disable."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from api import guard
from api.deps import NO_NUL, ClientDep, CurrentUser, ServicesDep
from evidence import access, unit_of_work, users
from evidence.errors import InvalidInput
from evidence.users import Principal

router = APIRouter(prefix="/api/v1/users", tags=["users"])

Username = Annotated[str, Path(min_length=1, max_length=64)]


class UserOut(BaseModel):
    username: str
    unit: str
    roles: list[str]
    officer_id: str | None
    disabled: bool
    password_change_required: bool
    last_sign_in_at: str | None


class UserIn(BaseModel):
    username: str = Field(min_length=1, max_length=64, pattern=NO_NUL)
    roles: list[str] = Field(min_length=1, max_length=5, description="officer, reviewer, supervisor, auditor, admin")
    unit: str = Field(min_length=1, max_length=64, pattern=NO_NUL)
    officer_id: str | None = Field(None, max_length=64, pattern=NO_NUL, description="警号, required for officers")


class NewPasswordOut(BaseModel):
    user: UserOut
    one_time_password: str = Field(description="shown once: the user must choose their own at first sign-in")


@router.get("", response_model=list[UserOut], responses={401: {}, 403: {}})
def list_users(svc: ServicesDep, who: CurrentUser, client: ClientDep) -> list[UserOut]:
    """Every account: name, unit, roles, officer id, disabled, last sign-in (administrators only)."""
    guard.enforce(svc, who, client, access.decide_list_users(who), "list_users")
    return [UserOut(**users.user_view(u)) for u in unit_of_work.run(svc.reads, users.list_users)]


def _admin(svc: ServicesDep, who: Principal, client: str, action: str) -> None:
    guard.enforce(svc, who, client, access.decide_manage_users(who), action)


@router.post("", response_model=NewPasswordOut, status_code=201, responses={401: {}, 403: {}, 409: {}, 422: {}})
def add_user(svc: ServicesDep, who: CurrentUser, client: ClientDep, body: UserIn) -> NewPasswordOut:
    """Create an account with a one-time password, answered once (administrators only); 409 when the
    name is taken, 422 for an unknown role or an officer without an officer id (警号)."""
    _admin(svc, who, client, "add_user")

    def add(session: Session) -> tuple[dict, str]:
        user, password = users.add_user(session, body.username, body.roles, body.unit, body.officer_id or None)
        return users.user_view(user), password

    view, password = guard.run(svc, who, client, add)
    return NewPasswordOut(user=UserOut(**view), one_time_password=password)


@router.post("/{username}/password", response_model=NewPasswordOut, responses={401: {}, 403: {}, 404: {}})
def reset_password(svc: ServicesDep, who: CurrentUser, client: ClientDep, username: Username) -> NewPasswordOut:
    """A new one-time password for the account, answered once; its sessions and tokens are revoked
    (administrators only)."""
    _admin(svc, who, client, "reset_password")

    def reset(session: Session) -> tuple[dict, str]:
        password = users.reset_password(session, username)
        return users.user_view(users.get_user(session, username)), password

    view, password = guard.run(svc, who, client, reset)
    return NewPasswordOut(user=UserOut(**view), one_time_password=password)


@router.post("/{username}/disable", response_model=UserOut, responses={401: {}, 403: {}, 404: {}, 422: {}})
def disable_user(svc: ServicesDep, who: CurrentUser, client: ClientDep, username: Username) -> UserOut:
    """Stop the account signing in; its sessions and tokens are revoked (administrators only; not one's own)."""
    _admin(svc, who, client, "disable_user")
    if username == who.username:
        raise InvalidInput("you cannot disable your own account")
    return UserOut(**guard.run(svc, who, client, lambda s: users.user_view(users.disable(s, username))))
