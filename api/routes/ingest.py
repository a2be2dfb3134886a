"""What ingest leaves alone in the upload points, and why: the skipped list, for supervisors, auditors, admins."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import CurrentUser, ServicesDep
from evidence import access, skipped
from evidence.errors import Forbidden
from evidence.unit_of_work import transaction, with_db_retry

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
def list_skipped(svc: ServicesDep, who: CurrentUser) -> list[SkippedOut]:
    """Every file, link or folder ingest leaves alone on purpose or cannot handle yet, with its reason."""
    decision = access.may_see_skipped(who)
    if not decision.allowed:
        raise Forbidden(decision.reason)

    def read() -> list[dict]:
        with transaction(svc.reads) as session:
            return skipped.listing(session)

    return [SkippedOut(**row) for row in with_db_retry(read)]
