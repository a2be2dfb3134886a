"""The overdue-recorders report: recorders assigned now from which nothing has arrived for longer
than the deadline (auditors: every unit; supervisors: their unit's)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from api import guard
from api.deps import ClientDep, CurrentUser, ServicesDep
from evidence import overdue
from evidence.models import utcnow

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])


class OverdueOut(BaseModel):
    device_serial: str
    officer_id: str
    unit: str | None
    last_arrival_at: str | None
    since: str
    hours_overdue: float


@router.get("/overdue", response_model=list[OverdueOut], responses={401: {}, 403: {}})
def overdue_report(svc: ServicesDep, who: CurrentUser, client: ClientDep) -> list[OverdueOut]:
    """Overdue recorders, most overdue first: `since` is the last arrival, or the start of the current
    assignment when later (`last_arrival_at` null: never docked); when the officer has shift records,
    only time on duty counts toward `hours_overdue` (hours past the deadline)."""
    now, hours = utcnow(), svc.settings.deadline_hours
    rows = guard.run(svc, who, client, lambda s: overdue.report_for(s, who, now, hours), svc.reads)
    return [OverdueOut(**r) for r in rows]
