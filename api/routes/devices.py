"""Recorders and which officer carries each, over time: for administrators (the CLI's `evidence devices`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy.orm import Session

from api import guard
from api.deps import NO_NUL, ClientDep, CurrentUser, ServicesDep
from evidence import access, custody, devices
from evidence.custody import EventKind
from evidence.items import iso, time_filter
from evidence.models import DeviceAssignment

router = APIRouter(prefix="/api/v1/devices", tags=["devices"])

Serial = Annotated[str, Path(min_length=1, max_length=64, description="the recorder's serial")]


class AssignmentOut(BaseModel):
    serial: str
    officer_id: str
    unit: str | None
    since: str
    until: str | None = Field(description="null: in force now")


class AssignmentIn(BaseModel):
    officer_id: str = Field(min_length=1, max_length=64, pattern=NO_NUL, description="the officer's number (警号)")
    unit: str | None = Field(None, max_length=64, pattern=NO_NUL, description="the officer's unit")
    since: AwareDatetime | None = Field(None, description="when the officer took the recorder (default now)")


def _view(row: DeviceAssignment) -> AssignmentOut:
    return AssignmentOut(
        serial=row.serial, officer_id=row.officer_id, unit=row.unit, since=iso(row.since), until=iso(row.until)
    )


@router.get("", response_model=list[AssignmentOut], responses={401: {}, 403: {}, 422: {}})
def list_assignments(
    svc: ServicesDep,
    who: CurrentUser,
    client: ClientDep,
    serial: Annotated[str | None, Query(max_length=64, description="one recorder")] = None,
) -> list[AssignmentOut]:
    """The assignment history, by recorder and time (administrators only)."""
    guard.enforce(svc, who, client, access.decide_devices(who), "list_devices")
    return guard.run(svc, who, client, lambda s: [_view(r) for r in devices.assignments(s, serial)], svc.reads)


@router.post(
    "/{serial}/assignments", response_model=AssignmentOut, status_code=201, responses={401: {}, 403: {}, 422: {}}
)
def assign(svc: ServicesDep, who: CurrentUser, client: ClientDep, serial: Serial, body: AssignmentIn) -> AssignmentOut:
    """The officer carries the recorder from `since` (default now) on, closing the assignment then in
    force; a device_assigned custody event (administrators only). Assignments are added in time order."""
    guard.enforce(svc, who, client, access.decide_devices(who), "assign_device")

    def work(session: Session) -> AssignmentOut:
        since = time_filter(body.since, "since") if body.since else None  # in range once in UTC, else 422
        row = devices.assign(session, serial, body.officer_id, since, body.unit or None)
        custody.append(
            session,
            EventKind.DEVICE_ASSIGNED,
            agent=guard.agent_of(who, client),
            details={"serial": row.serial, "officer_id": row.officer_id, "unit": row.unit, "since": iso(row.since)},
        )
        return _view(row)

    return guard.run(svc, who, client, work)
