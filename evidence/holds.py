"""Legal holds on one item or a whole case: nothing under a hold is expired or purged.

A hold needs a reason and is never edited: releasing it records who, when and why. Both acts are
custody events, and the retention of every item concerned is worked out again at once (a hold
brings an expired item back).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from evidence import access, custody, retention
from evidence.access import Action, CaseAction
from evidence.custody import EventKind
from evidence.errors import Conflict, InvalidInput, NotFound
from evidence.items import get_item, iso
from evidence.models import Case, Hold, Item, ItemStatus, utcnow
from evidence.retention import Rules
from evidence.users import Principal


def _reason(text: str | None) -> str:
    text = (text or "").strip()
    if not text:
        raise InvalidInput("a hold needs a reason")
    if len(text) > 500:
        raise InvalidInput("reason is longer than 500 characters")
    return text


def active(session: Session, *, item_id: int | None = None, case_id: int | None = None) -> Hold | None:
    query = select(Hold).where(Hold.released_at.is_(None))
    query = query.where(Hold.item_id == item_id) if item_id is not None else query.where(Hold.case_id == case_id)
    return session.scalars(query).first()


def _target(item: Item | None, case: Case | None) -> tuple[int | None, int | None, str]:
    """The hold's item id, case id, and how to name it."""
    if (item is None) == (case is None):
        raise InvalidInput("a hold is on one item or one case")
    if item is not None:
        return item.id, None, f"item {item.id}"
    assert case is not None
    return None, case.id, f"case {case.number}"


def _concerned(session: Session, item: Item | None, case: Case | None) -> list[int]:
    if item is not None:
        return [item.id]
    return retention.items_of_case(session, case.id) if case is not None else []


def hold_view(hold: Hold, case_number: str | None = None) -> dict[str, Any]:
    return {
        "id": hold.id,
        "item_id": hold.item_id,
        "case_id": hold.case_id,
        "case_number": case_number,
        "reason": hold.reason,
        "placed_by": hold.placed_by,
        "placed_at": iso(hold.placed_at),
        "released_by": hold.released_by,
        "released_at": iso(hold.released_at),
        "release_reason": hold.release_reason,
    }


def place(
    session: Session,
    *,
    item: Item | None = None,
    case: Case | None = None,
    reason: str,
    by: str,
    agent: str,
    rules: Rules,
) -> Hold:
    """Hold ``item`` or ``case`` (one of them); Conflict when it is held already."""
    reason = _reason(reason)
    item_id, case_id, named = _target(item, case)
    concerned = _concerned(session, item, case)
    # lock the items first: a sweep purging one of them finishes before, or sees the hold after
    session.scalars(select(Item.id).where(Item.id.in_(concerned)).with_for_update(key_share=True)).all()
    if item is not None and item.status == ItemStatus.PURGED.value:
        raise Conflict(f"item {item.id} was purged on {iso(item.purged_at)}: nothing is left to hold")
    if active(session, item_id=item_id, case_id=case_id) is not None:
        raise Conflict(f"{named} is already on hold")
    hold = Hold(item_id=item and item.id, case_id=case and case.id, reason=reason, placed_by=by)
    session.add(hold)
    session.flush()
    _record(session, EventKind.HOLD_PLACED, hold, case, concerned, reason=reason, by=by, agent=agent, rules=rules)
    return hold


def release(
    session: Session,
    *,
    item: Item | None = None,
    case: Case | None = None,
    reason: str,
    by: str,
    agent: str,
    rules: Rules,
) -> Hold:
    """Release the hold on ``item`` or ``case``; NotFound when there is none."""
    reason = _reason(reason)
    item_id, case_id, named = _target(item, case)
    hold = active(session, item_id=item_id, case_id=case_id)
    if hold is None:
        raise NotFound(f"{named} is not on hold")
    hold.released_at, hold.released_by, hold.release_reason = utcnow(), by, reason
    concerned = _concerned(session, item, case)
    _record(session, EventKind.HOLD_RELEASED, hold, case, concerned, reason=reason, by=by, agent=agent, rules=rules)
    return hold


def _record(
    session: Session,
    kind: EventKind,
    hold: Hold,
    case: Case | None,
    concerned: list[int],
    *,
    reason: str,
    by: str,
    agent: str,
    rules: Rules,
) -> None:
    """The custody event of placing or releasing ``hold``, and the retention of the items it concerns."""
    details = {"hold_id": hold.id, "reason": reason, "by": by, "case_number": case.number if case else None}
    custody.append(
        session, kind, agent=agent, item_id=hold.item_id, case_id=hold.case_id, details={**details, "items": concerned}
    )
    retention.refresh(session, concerned, rules, agent)


def case_by_number(session: Session, number: str) -> Case:
    case = session.scalars(select(Case).where(Case.number == number)).first()
    if case is None:
        raise NotFound(f"no case {number!r}")
    return case


# -- a user's acts: access checked, one unit of work each --------------------------------------


def _item_for(session: Session, who: Principal, item_id: int) -> Item:
    row = access.item_for(session.connection(), who, item_id, Action.VIEW_METADATA)
    access.require(access.decide_hold(who, row.unit), "hold", item_id=row.id)
    return get_item(session, row.id)


def _case_for(session: Session, who: Principal, case_id: int) -> Case:
    case = access.case_for(session, who, case_id, CaseAction.VIEW)
    access.require(access.decide_hold(who, case.unit), "hold", case_id=case.id)
    return case


def hold_item_for(
    session: Session, who: Principal, item_id: int, reason: str, agent: str, rules: Rules
) -> dict[str, Any]:
    item = _item_for(session, who, item_id)
    return hold_view(place(session, item=item, reason=reason, by=who.username, agent=agent, rules=rules))


def release_item_for(
    session: Session, who: Principal, item_id: int, reason: str, agent: str, rules: Rules
) -> dict[str, Any]:
    item = _item_for(session, who, item_id)
    return hold_view(release(session, item=item, reason=reason, by=who.username, agent=agent, rules=rules))


def hold_case_for(
    session: Session, who: Principal, case_id: int, reason: str, agent: str, rules: Rules
) -> dict[str, Any]:
    case = _case_for(session, who, case_id)
    return hold_view(place(session, case=case, reason=reason, by=who.username, agent=agent, rules=rules), case.number)


def release_case_for(
    session: Session, who: Principal, case_id: int, reason: str, agent: str, rules: Rules
) -> dict[str, Any]:
    case = _case_for(session, who, case_id)
    return hold_view(release(session, case=case, reason=reason, by=who.username, agent=agent, rules=rules), case.number)
