"""Accounts, for administrators."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import CurrentUser, ServicesDep
from evidence import users
from evidence.errors import Forbidden
from evidence.unit_of_work import transaction, with_db_retry
from evidence.users import Role

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
def list_users(svc: ServicesDep, who: CurrentUser) -> list[UserOut]:
    """Every account: name, unit, roles, officer id, disabled, last sign-in (administrators only)."""
    if Role.ADMIN not in who.roles:
        raise Forbidden("only administrators list users")

    def read() -> list[dict]:
        with transaction(svc.reads) as session:
            return [users.user_view(u) for u in users.list_users(session)]

    return [UserOut(**u) for u in with_db_retry(read)]
