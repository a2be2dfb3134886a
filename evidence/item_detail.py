"""What an item's page shows beside the item: the acts its reader may do, its custody log, cases,
marks, excuse, hold and clips; and, for a page of search results, which items' media a reader may see.

Reads only; every decision is evidence/access.py's (``decide`` and friends), asked here once so that
a page offers exactly the acts the API would allow.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from evidence import access, cases, custody, holds, jobs
from evidence.access import Action, CaseAction, Links
from evidence.excuses import applies_clause
from evidence.models import Case, CaseItem, CaseReviewer, Excuse, Grant, Hold, Item, Job
from evidence.users import Principal

MAX_LINKABLE = 200  # open cases offered in a page's case chooser


@dataclass(frozen=True)
class ItemDetail:
    item: Row[Any]
    may: dict[str, bool]  # view_custody, view_media, download_original, curate, grant, excuse, hold
    marks: list[dict[str, Any]]
    cases: list[Case]  # the cases it is linked to, by number
    events: list[dict[str, Any]] | None  # its custody log; None: not for this reader
    excuse: Excuse | None  # the excuse that applies to its lateness
    hold: Hold | None  # its own legal hold in force
    clip_requests: list[dict[str, Any]] = field(default_factory=list)  # the reader's (auditors: all)
    clips: list[Item] = field(default_factory=list)  # clips cut from it that the reader may see
    linkable: list[Case] = field(default_factory=list)  # open cases the reader may link it to


def detail(session: Session, who: Principal, item_id: int) -> ItemDetail:
    """The item's page for ``who``: NotFound, or ``Refused`` (hidden: the 404) when they may not see it."""
    conn = session.connection()
    row = access.item_for(conn, who, item_id, Action.VIEW_METADATA)
    _, links = access.item_and_links(conn, who, row.id)
    may = {action.value: access.decide(who, action, row, links).allowed for action in Action}
    may["excuse"] = access.decide_excuse(who, {row.unit}).allowed
    may["hold"] = access.decide_hold(who, row.unit).allowed
    linked = list(
        session.scalars(
            select(Case)
            .join(CaseItem, CaseItem.case_id == Case.id)
            .where(CaseItem.item_id == row.id, CaseItem.unlinked_at.is_(None))
            .order_by(Case.number)
        )
    )
    excuse = session.scalars(
        select(Excuse).where(applies_clause(), Item.id == row.id).order_by(Excuse.id).limit(1)
    ).first()
    requests = []
    for job in session.scalars(
        select(Job).where(Job.item_id == row.id, Job.kind == jobs.JobKind.CLIP.value).order_by(Job.id)
    ):
        payload = json.loads(job.payload or "{}")
        if access.decide_request_status(who, payload.get("requested_by"), "clip request").allowed:
            requests.append(
                {
                    "id": job.id,
                    "state": job.state,
                    "error": job.last_error if job.state == "failed" else None,
                    "start_s": payload.get("start_s"),
                    "end_s": payload.get("end_s"),
                    "case_id": payload.get("case_id"),
                    "requested_by": payload.get("requested_by"),
                    "result_item_id": payload.get("result_item_id"),
                }
            )
    clips = list(
        session.scalars(select(Item).where(Item.derived_from == row.id, access.visible(who)).order_by(Item.id))
    )
    return ItemDetail(
        item=row,
        may=may,
        marks=cases.marks_of(conn, row.id),
        cases=linked,
        events=custody.item_log(conn, row.id) if may[Action.VIEW_CUSTODY.value] else None,
        excuse=excuse,
        hold=holds.active(session, item_id=row.id),
        clip_requests=requests,
        clips=clips,
        linkable=linkable_cases(session, who) if may[Action.CURATE.value] else [],
    )


def linkable_cases(session: Session, who: Principal) -> list[Case]:
    """Open cases ``who`` may link footage to (by number; at most MAX_LINKABLE)."""
    assigned = set(session.scalars(select(CaseReviewer.case_id).where(CaseReviewer.user_id == who.user_id)))
    found = session.scalars(
        select(Case).where(access.visible_cases(who), Case.status == "open").order_by(Case.number).limit(MAX_LINKABLE)
    )
    return [c for c in found if access.decide_case(who, CaseAction.LINK, c, c.id in assigned).allowed]


def media_visible(session: Session, who: Principal, items: list[Item]) -> set[int]:
    """The ids among ``items`` whose poster and proxy ``who`` may see (``decide`` VIEW_MEDIA)."""
    ids = [i.id for i in items]
    if not ids:
        return set()
    by_case = set(
        session.scalars(
            select(CaseItem.item_id)
            .join(CaseReviewer, CaseReviewer.case_id == CaseItem.case_id)
            .where(CaseItem.item_id.in_(ids), CaseItem.unlinked_at.is_(None), CaseReviewer.user_id == who.user_id)
        )
    )
    live_grants = (Grant.item_id.in_(ids), Grant.user_id == who.user_id, Grant.revoked_at.is_(None))
    granted = set(session.scalars(select(Grant.item_id).where(*live_grants)))
    return {
        i.id for i in items if access.decide(who, Action.VIEW_MEDIA, i, Links(i.id in by_case, i.id in granted)).allowed
    }
