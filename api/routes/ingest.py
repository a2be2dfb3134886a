"""What ingest leaves alone in the upload points, and why: the skipped list, for supervisors, auditors, admins."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from api import guard
from api.deps import ClientDep, CurrentUser, ServicesDep
from evidence import access, skipped, unit_of_work

router = APIRouter(prefix="/api/v1/ingest", tags=["ingest"])


class SkippedOut(BaseModel):
    station_id: str
    upload_point: str
    path: str  # relative to the upload point; escaped where the name is not printable UTF-8
    kind: str  # link | ignored | special | unreadable | unreleased
    reason: str
    first_seen: str
    last_seen: str


@router.get("/skipped", response_model=list[SkippedOut], responses={401: {}, 403: {}})
def list_skipped(svc: ServicesDep, who: CurrentUser, client: ClientDep) -> list[SkippedOut]:
    """Every file, link or folder ingest leaves alone on purpose or cannot handle yet, with its reason."""
    guard.enforce(svc, who, client, access.may_see_skipped(who), "see_skipped")
    return [SkippedOut(**row) for row in unit_of_work.run(svc.reads, skipped.listing)]
