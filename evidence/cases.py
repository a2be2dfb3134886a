"""Case files, their reviewers and footage, marks on items, and access grants.

Each change is one custody event written in the caller's transaction; a link
names both the item and the case, so it shows in both logs.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BindParameter, ColumnElement, bindparam, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from evidence import access, custody, retention
from evidence.access import Action, CaseAction
from evidence.custody import EventKind
from evidence.errors import Conflict, InvalidInput, NotFound
from evidence.items import ItemLike, iso
from evidence.models import Case, CaseItem, CaseReviewer, Grant, Item, Mark, User, utcnow
from evidence.retention import Rules
from evidence.users import Principal, Role, parse_roles

MARK_KINDS = {"important", "tag"}


def _text(value: str | None, what: str, limit: int = 500) -> str:
    value = (value or "").strip()
    if not value:
        raise InvalidInput(f"{what} must not be empty")
    if len(value) > limit:
        raise InvalidInput(f"{what} is longer than {limit} characters")
    return value


def get_case(session: Session, case_id: int) -> Case:
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound(f"no case {case_id}")
    return case


def open_case(session: Session, number: str, title: str, unit: str, by: str, agent: str) -> Case:
    number, title = _text(number, "case number", 64), _text(title, "title")
    if session.scalar(select(Case.id).where(Case.number == number)) is not None:
        raise Conflict(f"case number {number!r} already exists")
    case = Case(number=number, title=title, unit=unit, status="open", created_by=by)
    session.add(case)
    session.flush()
    custody.append(
        session,
        EventKind.CASE_OPENED,
        agent=agent,
        case_id=case.id,
        details={"number": number, "title": title, "unit": unit},
    )
    return case


def update_case(
    session: Session, case: Case, agent: str, status: str | None = None, title: str | None = None, *, rules: Rules
) -> Case:
    changes: dict[str, Any] = {}
    if status is not None:
        if status not in {"open", "closed"}:
            raise InvalidInput("status must be open or closed")
        changes["status"] = status
    if title is not None:
        changes["title"] = _text(title, "title")
    if not changes:
        raise InvalidInput("nothing to change: give status and/or title")
    closing = status == "closed" and case.status != "closed"
    for key, value in changes.items():
        setattr(case, key, value)
    if closing:
        case.closed_at = utcnow()  # retention of its footage counts from the last closing
    custody.append(session, EventKind.CASE_UPDATED, agent=agent, case_id=case.id, details=changes)
    if "status" in changes:
        retention.refresh(session, retention.items_of_case(session, case.id), rules, agent)
    return case


def case_filter(session: Session, visible: ColumnElement[bool], number: str | None, case_id: int | None) -> int | None:
    """The id of the case a list filter names (by number or id), among the ``visible`` cases.

    A case that does not exist, or that the caller may not see, is refused the same way (InvalidInput).
    """
    if number is None and case_id is None:
        return None
    query = select(Case.id).where(visible)
    if number is not None:
        query = query.where(Case.number == number)
    if case_id is not None:
        query = query.where(Case.id == case_id)
    found = session.scalar(query)
    if found is None:
        named = " and ".join(f"{k} {v!r}" for k, v in (("number", number), ("id", case_id)) if v is not None)
        raise InvalidInput(f"case: no case with {named} that you may see")
    return found


def mark_filter(session: Session, visible: ColumnElement[bool], mark: str | None) -> ColumnElement[bool] | None:
    """The condition on Mark rows a list filter names: ``important`` or a tag in use on a ``visible`` item."""
    if mark is None:
        return None
    wanted = Mark.kind == "important" if mark == "important" else (Mark.kind == "tag") & (Mark.value == mark)
    if (
        mark != "important"
        and session.scalar(
            select(Mark.id)
            .join(Item, Item.id == Mark.item_id)
            .where(wanted, Mark.removed_at.is_(None), visible)
            .limit(1)
        )
        is None
    ):
        raise InvalidInput(f"mark: no item you may see is tagged {mark!r} (use 'important' or a tag in use)")
    return wanted & Mark.removed_at.is_(None)


def reviewers(session: Session, case_id: int) -> list[str]:
    return list(
        session.scalars(
            select(User.username)
            .join(CaseReviewer, CaseReviewer.user_id == User.id)
            .where(CaseReviewer.case_id == case_id)
            .order_by(User.username)
        )
    )


def is_assigned(session: Session, case_id: int, user_id: int) -> bool:
    return session.get(CaseReviewer, (case_id, user_id)) is not None


def assign_reviewer(session: Session, case: Case, username: str, by: str, agent: str) -> None:
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None:
        raise NotFound(f"no user {username!r}")
    if not {Role.REVIEWER, Role.SUPERVISOR} & parse_roles(user.roles):
        raise InvalidInput(f"{username} is not a reviewer or supervisor")
    if is_assigned(session, case.id, user.id):
        raise Conflict(f"{username} is already assigned to case {case.number}")
    session.add(CaseReviewer(case_id=case.id, user_id=user.id, assigned_by=by))
    custody.append(
        session,
        EventKind.REVIEWER_ASSIGNED,
        agent=agent,
        case_id=case.id,
        details={"reviewer": username, "reviewer_unit": user.unit},
    )


def active_link(session: Session, case_id: int, item_id: int) -> CaseItem | None:
    return session.scalars(
        select(CaseItem).where(CaseItem.case_id == case_id, CaseItem.item_id == item_id, CaseItem.unlinked_at.is_(None))
    ).first()


def link(session: Session, case: Case, item: ItemLike, reason: str, by: str, agent: str, *, rules: Rules) -> CaseItem:
    reason = _text(reason, "reason")
    if active_link(session, case.id, item.id) is not None:
        raise Conflict(f"item {item.id} is already linked to case {case.number}")
    row = CaseItem(case_id=case.id, item_id=item.id, linked_by=by, reason=reason)
    session.add(row)
    session.flush()
    custody.append(
        session,
        EventKind.LINKED,
        agent=agent,
        item_id=item.id,
        case_id=case.id,
        details={"case_number": case.number, "reason": reason},
    )
    retention.refresh(session, [item.id], rules, agent)
    return row


def unlink(session: Session, case: Case, item: ItemLike, reason: str, by: str, agent: str, *, rules: Rules) -> None:
    reason = _text(reason, "reason")
    row = active_link(session, case.id, item.id)
    if row is None:
        raise NotFound(f"item {item.id} is not linked to case {case.number}")
    row.unlinked_at, row.unlinked_by, row.unlink_reason = utcnow(), by, reason
    custody.append(
        session,
        EventKind.UNLINKED,
        agent=agent,
        item_id=item.id,
        case_id=case.id,
        details={"case_number": case.number, "reason": reason},
    )
    retention.refresh(session, [item.id], rules, agent)


def linked_items(session: Session, case_id: int) -> list[int]:
    return list(
        session.scalars(
            select(CaseItem.item_id)
            .where(CaseItem.case_id == case_id, CaseItem.unlinked_at.is_(None))
            .order_by(CaseItem.item_id)
        )
    )


# Built once in Core over the tables: every metadata request reads both, for one item or a page
# of them (Core reads see only flushed rows; the writers here flush).
_C, _CI, _M = Case.__table__.c, CaseItem.__table__.c, Mark.__table__.c
_ITEMS: BindParameter[list[int]] = bindparam("item_ids", expanding=True)
_CASES_OF_ITEMS = (
    select(_CI.item_id, _C.number)
    .select_from(Case.__table__.join(CaseItem.__table__, _CI.case_id == _C.id))
    .where(_CI.item_id.in_(_ITEMS), _CI.unlinked_at.is_(None))
    .order_by(_C.number)
)
_MARKS_OF_ITEMS = (
    select(_M.item_id, _M.id, _M.kind, _M.value, _M.created_by, _M.created_at)
    .where(_M.item_id.in_(_ITEMS), _M.removed_at.is_(None))
    .order_by(_M.id)
)


def cases_of_items(conn: Connection, item_ids: list[int]) -> dict[int, list[str]]:
    """The numbers of the cases each item is linked to (one query for a whole page)."""
    found: dict[int, list[str]] = {i: [] for i in item_ids}
    for row in conn.execute(_CASES_OF_ITEMS, {"item_ids": item_ids}):
        found[row.item_id].append(row.number)
    return found


def marks_of_items(conn: Connection, item_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """The live marks of each item (one query for a whole page)."""
    found: dict[int, list[dict[str, Any]]] = {i: [] for i in item_ids}
    for m in conn.execute(_MARKS_OF_ITEMS, {"item_ids": item_ids}):
        found[m.item_id].append(
            {"id": m.id, "kind": m.kind, "value": m.value, "created_by": m.created_by, "created_at": iso(m.created_at)}
        )
    return found


def cases_of_item(conn: Connection, item_id: int) -> list[str]:
    return cases_of_items(conn, [item_id])[item_id]


def case_view(session: Session, case: Case) -> dict[str, Any]:
    return {
        "id": case.id,
        "number": case.number,
        "title": case.title,
        "unit": case.unit,
        "status": case.status,
        "created_by": case.created_by,
        "created_at": iso(case.created_at),
        "reviewers": reviewers(session, case.id),
        "item_ids": linked_items(session, case.id),
    }


def add_mark(
    session: Session, item: ItemLike, kind: str, value: str | None, by: str, agent: str, *, rules: Rules
) -> Mark:
    if kind not in MARK_KINDS:
        raise InvalidInput(f"mark kind must be one of {sorted(MARK_KINDS)}")
    value = _text(value, "tag", 100) if kind == "tag" else None
    existing = session.scalars(
        select(Mark).where(
            Mark.item_id == item.id,
            Mark.kind == kind,
            Mark.value.is_(None) if value is None else Mark.value == value,
            Mark.removed_at.is_(None),
        )
    ).first()
    if existing is not None:
        raise Conflict(f"item {item.id} already has that mark")
    mark = Mark(item_id=item.id, kind=kind, value=value, created_by=by)
    session.add(mark)
    session.flush()
    custody.append(
        session,
        EventKind.MARKED,
        agent=agent,
        item_id=item.id,
        details={"mark_id": mark.id, "kind": kind, "value": value},
    )
    if kind == "important":
        retention.refresh(session, [item.id], rules, agent)
    return mark


def remove_mark(session: Session, item: ItemLike, mark_id: int, agent: str, *, rules: Rules) -> None:
    mark = session.get(Mark, mark_id)
    if mark is None or mark.item_id != item.id or mark.removed_at is not None:
        raise NotFound(f"item {item.id} has no mark {mark_id}")
    mark.removed_at = utcnow()
    custody.append(
        session,
        EventKind.UNMARKED,
        agent=agent,
        item_id=item.id,
        details={"mark_id": mark.id, "kind": mark.kind, "value": mark.value},
    )
    if mark.kind == "important":
        retention.refresh(session, [item.id], rules, agent)


def marks_of(conn: Connection, item_id: int) -> list[dict[str, Any]]:
    return marks_of_items(conn, [item_id])[item_id]


def grant(session: Session, item: ItemLike, username: str, reason: str, by: str, agent: str) -> Grant:
    reason = _text(reason, "reason")
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None:
        raise NotFound(f"no user {username!r}")
    row = Grant(user_id=user.id, item_id=item.id, reason=reason, granted_by=by)
    session.add(row)
    session.flush()
    custody.append(
        session,
        EventKind.ACCESS_GRANTED,
        agent=agent,
        item_id=item.id,
        details={"grant_id": row.id, "to": username, "to_unit": user.unit, "reason": reason},
    )
    return row


# -- a user's acts on cases, marks and grants: access checked, one unit of work each ------------


def open_for(session: Session, who: Principal, number: str, title: str, agent: str) -> dict[str, Any]:
    """Open a case in ``who``'s unit; its view."""
    access.require(access.decide_open_case(who), "open_case")
    return case_view(session, open_case(session, number, title, who.unit, who.username, agent))


def visible_page(
    session: Session, who: Principal, status: str | None, limit: int, after: int | None
) -> list[dict[str, Any]]:
    """The views of the cases ``who`` may see, by id, after the id ``after``."""
    query = select(Case).where(access.visible_cases(who)).order_by(Case.id).limit(limit)
    if status:
        query = query.where(Case.status == status)
    if after is not None:
        query = query.where(Case.id > after)
    return [case_view(session, c) for c in session.scalars(query)]


def view_for(session: Session, who: Principal, case_id: int) -> dict[str, Any]:
    return case_view(session, access.case_for(session, who, case_id, CaseAction.VIEW))


def update_for(
    session: Session,
    who: Principal,
    case_id: int,
    agent: str,
    status: str | None,
    title: str | None,
    *,
    rules: Rules,
) -> dict[str, Any]:
    """Close, reopen or retitle a case; its view."""
    case = access.case_for(session, who, case_id, CaseAction.MANAGE)
    return case_view(session, update_case(session, case, agent, status=status, title=title, rules=rules))


def log_for(session: Session, who: Principal, case_id: int) -> list[dict[str, Any]]:
    """The case's custody events, oldest first."""
    access.case_for(session, who, case_id, CaseAction.VIEW)
    return [custody.as_dict(e) for e in custody.log_for_case(session, case_id)]


def assign_for(session: Session, who: Principal, case_id: int, username: str, agent: str) -> dict[str, Any]:
    """Assign reviewer ``username`` to the case; its view."""
    case = access.case_for(session, who, case_id, CaseAction.MANAGE)
    assign_reviewer(session, case, username, who.username, agent)
    return case_view(session, case)


def link_for(
    session: Session, who: Principal, case_id: int, item_id: int, reason: str, agent: str, *, rules: Rules
) -> dict[str, Any]:
    """Link item ``item_id`` to the case, with a reason; the case's view."""
    case = access.case_for(session, who, case_id, CaseAction.LINK)
    item = access.item_for(session.connection(), who, item_id, Action.CURATE)
    link(session, case, item, reason, who.username, agent, rules=rules)
    return case_view(session, case)


def unlink_for(
    session: Session, who: Principal, case_id: int, item_id: int, reason: str, agent: str, *, rules: Rules
) -> None:
    case = access.case_for(session, who, case_id, CaseAction.LINK)
    item = access.item_for(session.connection(), who, item_id, Action.VIEW_METADATA)
    unlink(session, case, item, reason, who.username, agent, rules=rules)


def mark_for(
    session: Session, who: Principal, item_id: int, kind: str, value: str | None, agent: str, *, rules: Rules
) -> dict[str, Any]:
    """Mark or tag an item; the mark's view."""
    item = access.item_for(session.connection(), who, item_id, Action.CURATE)
    mark = add_mark(session, item, kind, value, who.username, agent, rules=rules)
    return next(m for m in marks_of(session.connection(), item_id) if m["id"] == mark.id)


def unmark_for(session: Session, who: Principal, item_id: int, mark_id: int, agent: str, *, rules: Rules) -> None:
    item = access.item_for(session.connection(), who, item_id, Action.CURATE)
    remove_mark(session, item, mark_id, agent, rules=rules)


def grant_for(session: Session, who: Principal, item_id: int, username: str, reason: str, agent: str) -> Grant:
    """Let ``username`` see the item, with a reason (a supervisor of its unit)."""
    item = access.item_for(session.connection(), who, item_id, Action.GRANT)
    return grant(session, item, username, reason, who.username, agent)
