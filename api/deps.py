"""Request-scoped pieces every route reads the same way: services, the signed-in user, the client."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query, Request
from fastapi.security import OAuth2PasswordBearer

from api.services import Services
from evidence import users
from evidence.db import with_db_retry
from evidence.items import MAX_ID
from evidence.users import Principal

# Anything beyond MAX_ID is refused at the door (422) instead of overflowing inside the driver.
# Every id a route takes, in the path or a filter, uses these.
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]
# Text in request bodies: PostgreSQL cannot hold a NUL (paths and queries: api.errors.RefuseNul).
NO_NUL = r"^[^\x00]*$"

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


# Trivial dependencies are ``async def`` so FastAPI runs them on the event loop: a sync one
# would cost a hop to the thread pool on every request.
async def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


def current_user(svc: ServicesDep, token: Annotated[str | None, Depends(oauth2)]) -> Principal:
    """The signed-in user behind the bearer token (401 without a live one)."""

    def lookup() -> Principal:
        with svc.read_engine.begin() as conn:
            return users.signed_in(conn, token)

    return with_db_retry(lookup)


CurrentUser = Annotated[Principal, Depends(current_user)]
BearerToken = Annotated[str | None, Depends(oauth2)]


async def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


ClientDep = Annotated[str, Depends(client_address)]
