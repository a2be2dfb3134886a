"""Officers' duty periods: recorded by supervisors (their unit's officers) and admins; they narrow
the overdue-recorders report to time on duty."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from api import guard
from api.deps import NO_NUL, ClientDep, CurrentUser, ServicesDep
from evidence import shifts

router = APIRouter(prefix="/api/v1/shifts", tags=["shifts"])


class ShiftIn(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    officer_id: str = Field(min_length=1, max_length=64, pattern=NO_NUL, description="the officer's number (警号)")
    starts_at: datetime = Field(alias="from", description="start of duty, with a zone")
    ends_at: datetime = Field(alias="to", description="end of duty, with a zone; after `from`")


class ShiftOut(BaseModel):
    id: int
    officer_id: str
    starts_at: str = Field(alias="from", serialization_alias="from")
    ends_at: str = Field(alias="to", serialization_alias="to")
    hours: float
    source: str
    created_by: str
    created_at: str


@router.post(
    "",
    response_model=ShiftOut,
    response_model_by_alias=True,
    status_code=201,
    responses={401: {}, 403: {}, 409: {}, 422: {}},
)
def add_shift(svc: ServicesDep, who: CurrentUser, client: ClientDep, body: ShiftIn) -> ShiftOut:
    """Record a shift of an officer (supervisors: their unit's officers; admins: any). A shift that
    overlaps another of the same officer is refused (409); touching end to start is fine."""

    def add(session) -> dict:
        row = shifts.add(
            session, body.officer_id, body.starts_at, body.ends_at, created_by=who.username, source="api", who=who
        )
        return shifts.shift_view(row)

    return ShiftOut(**guard.run(svc, who, client, add))


@router.get("", response_model=list[ShiftOut], response_model_by_alias=True, responses={401: {}, 403: {}, 422: {}})
def list_shifts(
    svc: ServicesDep,
    who: CurrentUser,
    client: ClientDep,
    officer: Annotated[str | None, Query(max_length=64, description="one officer's number")] = None,
    since: Annotated[datetime | None, Query(alias="from", description="shifts ending after this, with a zone")] = None,
    until: Annotated[datetime | None, Query(alias="to", description="shifts starting before this, with a zone")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[ShiftOut]:
    """Shifts by start time: admins and auditors all, supervisors their unit's officers', officers their own."""
    views = guard.run(
        svc,
        who,
        client,
        lambda s: shifts.views(
            shifts.list_shifts(s, officer_id=officer, since=since, until=until, who=who, limit=limit)
        ),
        svc.reads,
    )
    return [ShiftOut(**v) for v in views]
