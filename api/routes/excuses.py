"""Excused lateness: a supervisor excuses one late recording, or an officer's or a recorder's over a
window; excuses are listed, and revoked (never edited). Each act is a custody event."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, model_validator
from sqlalchemy.orm import Session

from api import guard
from api.deps import DENIED, NO_NUL, ClientDep, CurrentUser, IdPath, IdQuery, ServicesDep
from evidence import excuses

router = APIRouter(prefix="/api/v1", tags=["excuses"])


class ExcuseOut(BaseModel):
    id: int
    item_id: int | None
    officer_id: str | None
    device_serial: str | None
    from_: str | None = Field(alias="from")
    to: str | None
    reason: str
    approved_by: str
    approved_at: str
    active: bool
    revoked_at: str | None
    revoked_by: str | None
    revoke_reason: str | None


class WindowExcuseOut(ExcuseOut):
    late_items_now: list[int] = Field(description="late recordings the window covers now (later arrivals count too)")


class ReasonIn(BaseModel):
    reason: str = Field(min_length=3, max_length=excuses.MAX_REASON, pattern=NO_NUL)


class WindowIn(BaseModel):
    officer_id: str | None = Field(None, min_length=1, max_length=64, pattern=NO_NUL)
    device_serial: str | None = Field(None, min_length=1, max_length=64, pattern=NO_NUL)
    from_: datetime = Field(alias="from", description="with a zone; recordings ending at or after this")
    to: datetime = Field(description="with a zone; recordings ending before this")
    reason: str = Field(min_length=3, max_length=excuses.MAX_REASON, pattern=NO_NUL)

    @model_validator(mode="after")
    def one_of(self) -> WindowIn:
        if (self.officer_id is None) == (self.device_serial is None):
            raise ValueError("give officer_id or device_serial, not both")
        return self


@router.post("/items/{item_id}/excuses", status_code=201, response_model=ExcuseOut, responses={**DENIED, 409: {}})
def excuse_item(svc: ServicesDep, who: CurrentUser, client: ClientDep, item_id: IdPath, body: ReasonIn) -> Any:
    """A supervisor of the item's unit excuses its lateness (409 if it was on time or is excused already)."""
    agent = guard.agent_of(who, client)

    def write(session: Session) -> dict[str, Any]:
        return excuses.excuse_view(excuses.excuse_item(session, who, item_id, reason=body.reason, agent=agent))

    return guard.run(svc, who, client, write)


@router.post("/excuses", status_code=201, response_model=WindowExcuseOut, responses={401: {}, 403: {}, 422: {}})
def excuse_window(svc: ServicesDep, who: CurrentUser, client: ClientDep, body: WindowIn) -> Any:
    """A supervisor of the officer's (or recorder's) unit excuses the lateness of its recordings that
    end in [from, to), those here now and those still to arrive."""
    agent = guard.agent_of(who, client)

    def write(session: Session) -> dict[str, Any]:
        excuse, covered = excuses.excuse_window(
            session,
            who,
            officer_id=body.officer_id,
            device_serial=body.device_serial,
            start=body.from_,
            end=body.to,
            reason=body.reason,
            agent=agent,
        )
        return {**excuses.excuse_view(excuse), "late_items_now": covered}

    return guard.run(svc, who, client, write)


@router.post("/excuses/{excuse_id}/revoke", response_model=ExcuseOut, responses={**DENIED, 409: {}})
def revoke(svc: ServicesDep, who: CurrentUser, client: ClientDep, excuse_id: IdPath, body: ReasonIn) -> Any:
    """Revoke an excuse (a supervisor of the unit it concerns); it stays listed, as revoked."""
    agent = guard.agent_of(who, client)

    def write(session: Session) -> dict[str, Any]:
        return excuses.excuse_view(excuses.revoke(session, who, excuse_id, reason=body.reason, agent=agent))

    return guard.run(svc, who, client, write)


@router.get("/excuses", response_model=list[ExcuseOut], responses={401: {}, 403: {}, 422: {}})
def list_excuses(
    svc: ServicesDep,
    who: CurrentUser,
    client: ClientDep,
    item: IdQuery = None,
    officer: Annotated[str | None, Query(max_length=64)] = None,
    device: Annotated[str | None, Query(max_length=64)] = None,
    active: bool | None = None,
) -> Any:
    """Excuses, newest first (at most 1000): auditors all, supervisors their unit's."""

    def read(session: Session) -> list[dict[str, Any]]:
        found = excuses.list_excuses(
            session, who, item_id=item, officer_id=officer, device_serial=device, active=active
        )
        return [excuses.excuse_view(e) for e in found]

    return guard.run(svc, who, client, read, svc.reads)
