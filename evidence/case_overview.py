"""What a case's page shows, in one read: the case, its footage, clips, exports and hold, and what the
reader may do there.

Nothing here decides anew: each flag is the answer evidence/access.py gives when the reader tries
the act through the API, so a page offers an action exactly to those the API would let do it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from evidence import access, cases, holds, jobs
from evidence.access import Action, CaseAction
from evidence.custody import EventKind
from evidence.models import CustodyEvent, Export, Hold, Job
from evidence.users import Principal

EXPORTS_SHOWN = 10


@dataclass(frozen=True)
class LinkedItem:
    """An item linked to the case, as its reader may see it."""

    id: int
    filename: str
    recorded_start: datetime | None
    duration_s: float | None
    officer_id: str | None
    device_serial: str | None
    status: str
    derived_from: int | None  # a clip: the item it was cut from
    clip_start_s: float | None
    clip_end_s: float | None
    poster: bool  # it has a poster and the reader may see its media
    download: bool  # the reader may download its original


@dataclass(frozen=True)
class ClipRequest:
    """A clip asked for in the case: where it stands, and the item it made."""

    id: int
    source_item_id: int | None
    start_s: float | None
    end_s: float | None
    requested_by: str | None
    state: str  # queued | running | done | failed
    item_id: int | None
    error: str | None
    download: bool  # the clip is made and the reader may download it


@dataclass(frozen=True)
class CaseOverview:
    case: dict[str, Any]  # evidence.cases.case_view
    opened_at: datetime
    items: list[LinkedItem]
    clips: list[ClipRequest]
    exports: list[Export]  # the latest, newest first
    hold: Hold | None  # the case's active legal hold
    may_manage: bool  # assign reviewers, close and reopen
    may_export: bool  # request and download exports
    may_hold: bool  # place and release the case's legal hold
    hidden_items: int = 0  # linked items the reader may not see


def _linked(session: Session, who: Principal, item_ids: list[int]) -> tuple[list[LinkedItem], dict[int, bool], int]:
    """The linked items ``who`` may see; who may download which (by id); how many are hidden."""
    conn = session.connection()
    shown: list[LinkedItem] = []
    downloads: dict[int, bool] = {}
    hidden = 0
    for item_id in item_ids:
        row, links = access.item_and_links(conn, who, item_id)
        if row is None or not access.decide(who, Action.VIEW_METADATA, row, links).allowed:
            hidden += 1
            continue
        media = access.decide(who, Action.VIEW_MEDIA, row, links).allowed
        download = access.decide(who, Action.DOWNLOAD_ORIGINAL, row, links).allowed and row.status != "purged"
        downloads[row.id] = download
        shown.append(
            LinkedItem(
                id=row.id,
                filename=row.original_filename,
                recorded_start=row.recorded_start,
                duration_s=row.duration_s,
                officer_id=row.officer_id,
                device_serial=row.device_serial,
                status=row.status,
                derived_from=row.derived_from,
                clip_start_s=row.clip_start_s,
                clip_end_s=row.clip_end_s,
                poster=media and row.poster_key is not None and row.status != "purged",
                download=download,
            )
        )
    return shown, downloads, hidden


def _may_download(session: Session, who: Principal, item_id: int | None, known: dict[int, bool]) -> bool:
    if item_id is None:
        return False
    if item_id not in known:
        row, links = access.item_and_links(session.connection(), who, item_id)
        known[item_id] = row is not None and access.decide(who, Action.DOWNLOAD_ORIGINAL, row, links).allowed
    return known[item_id]


def clip_requests(session: Session, case_id: int) -> list[Job]:
    """The clip requests made for the case (found by their custody events), oldest first."""
    events = session.scalars(
        select(CustodyEvent.details).where(
            CustodyEvent.case_id == case_id, CustodyEvent.kind == EventKind.CLIP_REQUESTED.value
        )
    )
    ids = sorted({json.loads(d).get("clip_request_id") for d in events} - {None})
    if not ids:
        return []
    return list(
        session.scalars(select(Job).where(Job.id.in_(ids), Job.kind == jobs.JobKind.CLIP.value).order_by(Job.id))
    )


def overview_for(session: Session, who: Principal, case_id: int) -> CaseOverview:
    """The case as ``who`` may see it (NotFound, or ``Refused`` like the API's case view)."""
    case = access.case_for(session, who, case_id, CaseAction.VIEW)
    assigned = cases.is_assigned(session, case.id, who.user_id)
    view = cases.case_view(session, case)
    items, downloads, hidden = _linked(session, who, view["item_ids"])
    clips = []
    for job in clip_requests(session, case.id):
        request = json.loads(job.payload or "{}")
        made = request.get("result_item_id") if job.state == "done" else None
        clips.append(
            ClipRequest(
                id=job.id,
                source_item_id=job.item_id,
                start_s=request.get("start_s"),
                end_s=request.get("end_s"),
                requested_by=request.get("requested_by"),
                state=job.state,
                item_id=made,
                error=job.last_error if job.state == "failed" else None,
                download=_may_download(session, who, made, downloads),
            )
        )
    rows = session.scalars(
        select(Export).where(Export.case_id == case.id).order_by(Export.id.desc()).limit(EXPORTS_SHOWN)
    )

    def may(action: CaseAction) -> bool:
        return access.decide_case(who, action, case, assigned).allowed

    return CaseOverview(
        case=view,
        opened_at=case.created_at,
        items=items,
        clips=clips,
        exports=list(rows),
        hold=holds.active(session, case_id=case.id),
        may_manage=may(CaseAction.MANAGE),
        may_export=may(CaseAction.EXPORT),
        may_hold=access.decide_hold(who, case.unit).allowed,
        hidden_items=hidden,
    )


def may_open_case(who: Principal) -> bool:
    return access.decide_open_case(who).allowed
