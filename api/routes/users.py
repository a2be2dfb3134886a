"""Accounts, for administrators."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from api import guard
from api.deps import ClientDep, CurrentUser, ServicesDep
from evidence import access, unit_of_work, users

router = APIRouter(prefix="/api/v1/users", tags=["users"])


class UserOut(BaseModel):
    username: str
    unit: str
    roles: list[str]
    officer_id: str | None
    disabled: bool
    password_change_required: bool
    last_sign_in_at: str | None


@router.get("", response_model=list[UserOut], responses={401: {}, 403: {}})
def list_users(svc: ServicesDep, who: CurrentUser, client: ClientDep) -> list[UserOut]:
    """Every account: name, unit, roles, officer id, disabled, last sign-in (administrators only)."""
    guard.enforce(svc, who, client, access.decide_list_users(who), "list_users")
    return [UserOut(**users.user_view(u)) for u in unit_of_work.run(svc.reads, users.list_users)]
