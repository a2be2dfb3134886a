"""Reports for auditors (every unit) and supervisors (their unit): the upload-deadline report."""

from __future__ import annotations

import enum
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from api import guard
from api.deps import ClientDep, CurrentUser, ServicesDep
from evidence import deadline_report
from evidence.deadline_report import GroupBy

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])


class Format(str, enum.Enum):
    JSON = "json"
    CSV = "csv"
    TABLE = "table"


class DeadlineGroupOut(BaseModel):
    key: str | None
    recordings: int
    on_time: int
    late: int
    excused: int
    doubtful: int
    compliance_rate: float | None
    median_late_s: float | None
    max_late_s: float | None


class LateItemOut(BaseModel):
    id: int
    officer_id: str | None
    unit: str | None
    device_serial: str | None
    recorded_end: str
    received_at: str
    late_by_s: float | None
    excused: bool
    excuse_reason: str | None
    excused_by: str | None


class DoubtfulItemOut(BaseModel):
    id: int
    reason: str


class DeadlineReportOut(BaseModel):
    from_: str = Field(alias="from")
    to: str
    group_by: str
    groups: list[DeadlineGroupOut]
    late_items: list[LateItemOut] | None = Field(None, description="null when not asked for (items=false)")
    doubtful_items: list[DoubtfulItemOut] | None = Field(None, description="null when not asked for")


@router.get(
    "/deadlines",
    response_model=DeadlineReportOut,
    responses={
        200: {
            "description": "the report (JSON), or its groups as CSV or an aligned table",
            "content": {"text/csv": {}, "text/plain": {}},
        },
        401: {},
        403: {},
        422: {},
    },
)
def deadlines(
    svc: ServicesDep,
    who: CurrentUser,
    client: ClientDep,
    start: Annotated[date, Query(alias="from", description="first station-local calendar day")],
    end: Annotated[date, Query(alias="to", description="last station-local calendar day (included)")],
    group_by: GroupBy = GroupBy.OFFICER,
    format: Format = Format.JSON,
    items: Annotated[bool, Query(description="list the late and doubtful recordings (JSON)")] = True,
) -> Any:
    """Upload-deadline compliance for the recordings that ended in [from, to] (station-local days),
    one row per group: on time, late, excused, doubtful, compliance rate, median and longest lateness.

    Auditors: every unit; supervisors: their unit."""
    zone = svc.settings.zone

    def read(session: Session) -> dict[str, Any]:
        return deadline_report.report(
            session, who, start, end, group_by=group_by, zone=zone, items=items and format is Format.JSON
        )

    result = guard.run(svc, who, client, read, svc.reads)
    if format is Format.CSV:
        return Response(deadline_report.as_csv(result), media_type="text/csv; charset=utf-8")
    if format is Format.TABLE:
        return PlainTextResponse(deadline_report.as_table(result))
    return result
