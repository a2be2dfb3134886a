"""Who may do what: the whole access policy, in one place.

    officer     own recordings (attributed to their 警号): metadata, proxy, poster
    reviewer    recordings of their own unit, of cases they are assigned to, and granted ones:
                metadata, custody log, proxy, poster, originals (with a reason), link, mark, clip
    supervisor  as reviewer; also assigns reviewers to the unit's cases, closes them, and grants
                other users access to the unit's recordings (with a reason)
    auditor     metadata and custody logs of every unit; media only where granted
    admin       users and devices (recorders' assignments); no access to recordings
    uploads     officers, reviewers and supervisors; a recorder named with an upload must be the
                uploader's own (assigned to their 警号 now) or, for a supervisor, their unit's
    custody     searching events across the system: auditors (all), supervisors (events of their
                unit's recordings and cases)

Unattributed footage (no recorder known, so no unit) shows its metadata to every supervisor, so
that one can attribute it to a recorder their unit carried then (``decide_attribution``).
The skipped list (names of files ingest leaves alone on the stations' disks, no
recordings) and the job queue are for supervisors, auditors and admins; supervisors and
admins may retry a failed job.

Someone with no right to know an item exists gets ``hide=True`` (the API answers
404); someone who may see it but not do this act gets a plain refusal (403).
Domain functions ask through ``require`` (or ``item_for`` / ``case_for``), which raise ``Refused``
inside the unit of work; the API's door (api/guard.py) records every refusal as an access_denied
custody event and answers 404 or 403.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, bindparam, exists, false, or_, select, true
from sqlalchemy.engine import Connection, Row
from sqlalchemy.orm import Session

from evidence.errors import NotFound
from evidence.items import ItemLike, is_unattributed, unattributed_clause, valid_id
from evidence.models import Case, CaseItem, CaseReviewer, CustodyEvent, DeviceAssignment, Grant, Item
from evidence.users import Principal, Role

UNIT_ROLES = {Role.REVIEWER, Role.SUPERVISOR}


class Action(str, enum.Enum):
    VIEW_METADATA = "view_metadata"
    VIEW_CUSTODY = "view_custody"
    VIEW_MEDIA = "view_media"  # proxy stream and poster
    DOWNLOAD_ORIGINAL = "download_original"
    CURATE = "curate"  # link to cases, mark, cut clips
    GRANT = "grant"  # let another user see this recording


@dataclass(frozen=True)
class Links:
    """How a user is tied to an item beyond unit and 警号."""

    case_assigned: bool = False  # linked to a case the user reviews
    granted: bool = False  # a supervisor granted the user access


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    hide: bool = False


def decide(who: Principal, action: Action, item: ItemLike, links: Links = Links()) -> Decision:
    """May ``who`` perform ``action`` on ``item``?"""
    reviewer = bool(UNIT_ROLES & who.roles)
    own = Role.OFFICER in who.roles and who.officer_id is not None and item.officer_id == who.officer_id
    same_unit = reviewer and item.unit is not None and item.unit == who.unit
    by_case = reviewer and links.case_assigned
    granted = links.granted
    auditor = Role.AUDITOR in who.roles
    finder = Role.SUPERVISOR in who.roles and is_unattributed(item)
    if not (own or same_unit or by_case or granted or auditor or finder):
        return Decision(False, "not your recording, nor your unit's, nor granted to you", hide=True)
    reviews = same_unit or by_case or (granted and reviewer)
    allowed = {
        Action.VIEW_METADATA: True,
        Action.VIEW_CUSTODY: reviews or auditor,
        Action.VIEW_MEDIA: own or reviews or granted,
        Action.DOWNLOAD_ORIGINAL: reviews,
        Action.CURATE: reviews,
        Action.GRANT: same_unit and Role.SUPERVISOR in who.roles,
    }[action]
    if allowed:
        return Decision(True, "allowed")
    why = {
        Action.VIEW_CUSTODY: "custody logs are for reviewers of the recording and auditors",
        Action.VIEW_MEDIA: "media is for the recording officer, its reviewers, and users granted access",
        Action.DOWNLOAD_ORIGINAL: "originals are for reviewers and supervisors of the recording",
        Action.CURATE: "linking, marking and clipping are for reviewers and supervisors of the recording",
        Action.GRANT: "only a supervisor of the recording's unit may grant access to it",
    }[action]
    return Decision(False, why)


class Refused(Exception):
    """A refusal raised inside a unit of work (rolling it back); the caller records it, then answers.

    Deliberately not an EvidenceError: one that escaped unrecorded would not be mapped to a 403/404.
    """

    def __init__(
        self,
        decision: Decision,
        action: str,
        missing: str = "",
        item_id: int | None = None,
        case_id: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(decision.reason)
        self.decision, self.action, self.missing = decision, action, missing
        self.item_id, self.case_id, self.details = item_id, case_id, details or {}


def require(
    decision: Decision,
    action: str,
    missing: str = "",
    *,
    item_id: int | None = None,
    case_id: int | None = None,
    **details: Any,
) -> None:
    """Go on if ``decision`` allows; else raise ``Refused`` (``missing``: the 404 text when hidden;
    ``details``: what the recorded refusal names beside the action and reason)."""
    if not decision.allowed:
        raise Refused(decision, action, missing, item_id, case_id, details)


# The item's columns and both ties in one round trip, built once in Core over the tables
# (every item request asks).
_I, _CI, _CR, _G = Item.__table__.c, CaseItem.__table__.c, CaseReviewer.__table__.c, Grant.__table__.c
_ITEM_AND_LINKS = select(
    Item.__table__,
    exists()
    .where(
        _CI.item_id == _I.id, _CI.unlinked_at.is_(None), _CR.case_id == _CI.case_id, _CR.user_id == bindparam("user_id")
    )
    .label("link_case_assigned"),
    exists()
    .where(_G.item_id == _I.id, _G.user_id == bindparam("user_id"), _G.revoked_at.is_(None))
    .label("link_granted"),
).where(_I.id == bindparam("item_id"))


def item_and_links(conn: Connection, who: Principal, item_id: int) -> tuple[Row[Any] | None, Links]:
    """One item's columns as a Core row (or None), and the case and grant ties between ``who`` and it."""
    row = conn.execute(_ITEM_AND_LINKS, {"item_id": item_id, "user_id": who.user_id}).first()
    if row is None:
        return None, Links()
    return row, Links(case_assigned=bool(row.link_case_assigned), granted=bool(row.link_granted))


def item_for(conn: Connection, who: Principal, item_id: int, action: Action) -> Row[Any]:
    """The item's columns if ``who`` may do ``action`` on it; else NotFound, or ``Refused``."""
    row, links = item_and_links(conn, who, item_id) if valid_id(item_id) else (None, Links())
    if row is None:
        raise NotFound(f"no item {item_id}")
    require(decide(who, action, row, links), action.value, f"no item {item_id}", item_id=row.id)
    return row


def visible(who: Principal) -> ColumnElement[bool]:
    """SQL condition for the items whose metadata ``who`` may see (the same rule as ``decide``)."""
    if Role.AUDITOR in who.roles:
        return true()
    clauses: list[ColumnElement[bool]] = [
        Item.id.in_(select(Grant.item_id).where(Grant.user_id == who.user_id, Grant.revoked_at.is_(None)))
    ]
    if Role.OFFICER in who.roles and who.officer_id:
        clauses.append(Item.officer_id == who.officer_id)
    if Role.SUPERVISOR in who.roles:
        clauses.append(unattributed_clause())
    if UNIT_ROLES & who.roles:
        clauses.append(Item.unit == who.unit)
        clauses.append(
            Item.id.in_(
                select(CaseItem.item_id)
                .join(CaseReviewer, CaseReviewer.case_id == CaseItem.case_id)
                .where(CaseItem.unlinked_at.is_(None), CaseReviewer.user_id == who.user_id)
            )
        )
    return or_(*clauses) if clauses else false()


# -- cases ---------------------------------------------------------------


class CaseAction(str, enum.Enum):
    VIEW = "view"
    LINK = "link"  # link and unlink footage
    MANAGE = "manage"  # assign reviewers, change status and title
    EXPORT = "export"  # make and download a signed export package of the case's footage


def decide_case(who: Principal, action: CaseAction, case: Case, assigned: bool) -> Decision:
    """May ``who`` do ``action`` on ``case``? ``assigned``: they are one of its reviewers."""
    unit = bool(UNIT_ROLES & who.roles) and case.unit == who.unit
    supervisor = Role.SUPERVISOR in who.roles and case.unit == who.unit
    works_on = unit or (assigned and bool(UNIT_ROLES & who.roles))
    if not (works_on or Role.AUDITOR in who.roles):
        return Decision(False, "not a case of your unit, nor one you are assigned to", hide=True)
    allowed = {
        CaseAction.VIEW: True,
        CaseAction.LINK: works_on and case.status == "open",
        CaseAction.MANAGE: supervisor,
        CaseAction.EXPORT: works_on,  # open or closed: handing over often follows closing
    }[action]
    if allowed:
        return Decision(True, "allowed")
    if action is CaseAction.LINK and works_on:
        return Decision(False, "the case is closed")
    return Decision(
        False,
        {
            CaseAction.LINK: "only the case's reviewers may link footage",
            CaseAction.MANAGE: "only a supervisor of the case's unit may do that",
            CaseAction.EXPORT: "exports are for the case's reviewers and its unit's supervisors",
        }[action],
    )


def case_for(session: Session, who: Principal, case_id: int, action: CaseAction) -> Case:
    """The case if ``who`` may do ``action`` on it; else NotFound, or ``Refused``."""
    case = session.get(Case, case_id) if valid_id(case_id) else None
    if case is None:
        raise NotFound(f"no case {case_id}")
    assigned = session.get(CaseReviewer, (case_id, who.user_id)) is not None
    require(decide_case(who, action, case, assigned), f"case_{action.value}", f"no case {case_id}", case_id=case.id)
    return case


def visible_cases(who: Principal) -> ColumnElement[bool]:
    if Role.AUDITOR in who.roles:
        return true()
    if not UNIT_ROLES & who.roles:
        return false()
    return or_(
        Case.unit == who.unit, Case.id.in_(select(CaseReviewer.case_id).where(CaseReviewer.user_id == who.user_id))
    )


# -- attributing footage to a recorder -------------------------------------


def decide_attribution(who: Principal, device_unit: str | None) -> Decision:
    """May ``who`` attribute unattributed footage to a recorder whose unit at the recording time was
    ``device_unit``? Only a supervisor of that unit: it decides who will review the footage."""
    if Role.SUPERVISOR not in who.roles:
        return Decision(False, "only a supervisor attributes footage to a recorder")
    if device_unit is None or device_unit != who.unit:
        return Decision(False, f"that recorder was not with your unit ({who.unit}) when this was recorded")
    return Decision(True, "allowed")


# -- the stations' disks -------------------------------------------------

STATION_READERS = {Role.SUPERVISOR, Role.AUDITOR, Role.ADMIN}


def decide_list_users(who: Principal) -> Decision:
    if Role.ADMIN in who.roles:
        return Decision(True, "allowed")
    return Decision(False, "only administrators list users")


def decide_manage_users(who: Principal) -> Decision:
    """May ``who`` add users, give them a new one-time password or disable them? Administrators."""
    if Role.ADMIN in who.roles:
        return Decision(True, "allowed")
    return Decision(False, "only administrators manage users")


def decide_devices(who: Principal) -> Decision:
    """May ``who`` list recorders' assignments or assign a recorder to an officer? Administrators."""
    if Role.ADMIN in who.roles:
        return Decision(True, "allowed")
    return Decision(False, "only administrators manage recorders and their assignments")


def may_see_skipped(who: Principal) -> Decision:
    """May ``who`` read the skipped list (what ingest leaves alone in the upload points, and why)?"""
    if STATION_READERS & who.roles:
        return Decision(True, "allowed")
    return Decision(False, "the skipped list is for supervisors, auditors and admins")


def decide_list_jobs(who: Principal) -> Decision:
    """May ``who`` read the job queue (kinds, states, errors; no recordings)? Supervisors, auditors, admins."""
    if STATION_READERS & who.roles:
        return Decision(True, "allowed")
    return Decision(False, "the job queue is for supervisors, auditors and admins")


def decide_retry_job(who: Principal) -> Decision:
    """May ``who`` put a failed job back in the queue? Supervisors and admins (auditors only look)."""
    if {Role.SUPERVISOR, Role.ADMIN} & who.roles:
        return Decision(True, "allowed")
    return Decision(False, "only supervisors and admins retry failed jobs")


def decide_open_case(who: Principal) -> Decision:
    if UNIT_ROLES & who.roles:
        return Decision(True, "allowed")
    return Decision(False, "only reviewers and supervisors open cases")


# -- uploads ---------------------------------------------------------------

UPLOADERS = {Role.OFFICER, Role.REVIEWER, Role.SUPERVISOR}


def decide_upload(who: Principal, device: str | None, holder: DeviceAssignment | None) -> Decision:
    """May ``who`` upload footage, naming recorder ``device`` (``holder``: its assignment now, if any)?

    A recorder assigned to someone else would attribute the footage to them; only a supervisor
    of the recorder's unit may upload on their behalf.
    """
    if not UPLOADERS & who.roles:
        return Decision(False, "only officers, reviewers and supervisors upload footage")
    if device is None or holder is None:
        return Decision(True, "allowed")
    own = Role.OFFICER in who.roles and who.officer_id is not None and holder.officer_id == who.officer_id
    supervises = Role.SUPERVISOR in who.roles and holder.unit is not None and holder.unit == who.unit
    if own or supervises:
        return Decision(True, "allowed")
    return Decision(
        False,
        f"recorder {device} is assigned to another officer; only they, or a supervisor "
        "of its unit, may upload its footage",
    )


def decide_request_status(who: Principal, requested_by: str | None, what: str) -> Decision:
    """May ``who`` follow a request (an upload, a clip) that ``requested_by`` made? Its maker and auditors."""
    if requested_by == who.username or Role.AUDITOR in who.roles:
        return Decision(True, "allowed")
    return Decision(False, f"not your {what}", hide=True)


# -- custody search ----------------------------------------------------------


def decide_custody_search(who: Principal) -> Decision:
    if Role.AUDITOR in who.roles or Role.SUPERVISOR in who.roles:
        return Decision(True, "allowed")
    return Decision(False, "searching custody events is for auditors and supervisors")


def visible_events(who: Principal) -> ColumnElement[bool]:
    """SQL condition for the custody events ``who`` may search: auditors all; supervisors those of
    their unit's recordings and cases (system events with neither are for auditors)."""
    if Role.AUDITOR in who.roles:
        return true()
    if Role.SUPERVISOR not in who.roles:
        return false()
    return or_(
        CustodyEvent.item_id.in_(select(Item.id).where(Item.unit == who.unit)),
        CustodyEvent.case_id.in_(select(Case.id).where(Case.unit == who.unit)),
    )


# -- deadline reports and excused lateness -----------------------------------


def decide_reports(who: Principal) -> Decision:
    """May ``who`` read the auditors' reports (deadlines, overdue recorders)? Auditors (every unit) and
    supervisors (their unit)."""
    if Role.AUDITOR in who.roles or Role.SUPERVISOR in who.roles:
        return Decision(True, "allowed")
    return Decision(False, "reports are for auditors and supervisors")


def sees_every_unit(who: Principal) -> bool:
    """Reports and excuse lists for ``who`` cover every unit (auditors), not only their own."""
    return Role.AUDITOR in who.roles


def report_scope(who: Principal, unit: Any = None) -> ColumnElement[bool]:
    """SQL condition for the items a report for ``who`` counts: auditors all, supervisors their unit's.
    ``unit``: the column holding the unit, when not ``items.unit`` (the report rollup's)."""
    if sees_every_unit(who):
        return true()
    if Role.SUPERVISOR in who.roles:
        return (Item.unit if unit is None else unit) == who.unit
    return false()


def decide_excuse(who: Principal, units: set[str | None]) -> Decision:
    """May ``who`` excuse lateness (or revoke an excuse) of recordings that belong to ``units``
    (an item's unit; for an officer's or a recorder's window, every unit it was with then)?
    Only a supervisor of that one unit."""
    if Role.SUPERVISOR not in who.roles:
        return Decision(False, "only a supervisor excuses lateness")
    if units != {who.unit}:
        named = ", ".join(sorted(u or "no unit" for u in units)) or "no unit"
        return Decision(False, f"these recordings are not your unit's ({who.unit}) but {named}'s")
    return Decision(True, "allowed")


def decide_list_excuses(who: Principal) -> Decision:
    if Role.AUDITOR in who.roles or Role.SUPERVISOR in who.roles:
        return Decision(True, "allowed")
    return Decision(False, "excuses are listed for auditors and supervisors")


# -- shifts and overdue recorders -------------------------------------------


def decide_add_shift(who: Principal, officer_units: set[str]) -> Decision:
    """May ``who`` record a shift of an officer belonging to ``officer_units``? Admins any officer;
    supervisors their unit's."""
    if Role.ADMIN in who.roles:
        return Decision(True, "allowed")
    if Role.SUPERVISOR not in who.roles:
        return Decision(False, "only supervisors (their unit's officers) and admins record shifts")
    if who.unit in officer_units:
        return Decision(True, "allowed")
    return Decision(False, f"that officer is not of your unit ({who.unit})")


def decide_list_shifts(who: Principal) -> Decision:
    """Shifts are listed to admins and auditors (all), supervisors (their unit's officers) and
    officers (their own)."""
    if {Role.ADMIN, Role.AUDITOR, Role.SUPERVISOR} & who.roles or (Role.OFFICER in who.roles and who.officer_id):
        return Decision(True, "allowed")
    return Decision(False, "shifts are for their officers, supervisors, auditors and admins")


# -- legal holds -------------------------------------------------------------


def decide_hold(who: Principal, unit: str | None) -> Decision:
    """May ``who`` place or release a legal hold on footage or a case of ``unit``? A supervisor of that unit."""
    if Role.SUPERVISOR not in who.roles:
        return Decision(False, "only a supervisor places or releases a legal hold")
    if unit is None or unit != who.unit:
        return Decision(False, f"not footage or a case of your unit ({who.unit})")
    return Decision(True, "allowed")
