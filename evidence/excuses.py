"""Excused lateness: a supervisor excuses one late recording, or an officer's or a recorder's
recordings over a time window; an excuse is never edited, only revoked. Both acts are custody events.

Which excuse applies to an item: an unrevoked excuse of that item, or an unrevoked window excuse
naming its officer or its recorder whose window holds its ``recorded_end`` (``from`` ≤ end < ``to``).
When several apply, the oldest (lowest id) is the one reports show.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from evidence import access, custody
from evidence.access import Action
from evidence.custody import EventKind
from evidence.errors import Conflict, Forbidden, InvalidInput, NotFound
from evidence.items import check_names, iso, time_filter, valid_id
from evidence.models import DeviceAssignment, Excuse, Item, User, utcnow
from evidence.users import Principal, get_user, parse_roles

MAX_REASON = 500


def applies_clause() -> ColumnElement[bool]:
    """SQL: this (correlated) excuse row applies to this item row."""
    in_window = and_(Excuse.window_from <= Item.recorded_end, Item.recorded_end < Excuse.window_to)
    return and_(
        Excuse.revoked_at.is_(None),
        or_(
            Excuse.item_id == Item.id,
            and_(Excuse.officer_id == Item.officer_id, in_window),
            and_(Excuse.device_serial == Item.device_serial, in_window),
        ),
    )


@dataclass(frozen=True)
class InForce:
    """The unrevoked excuses that may apply to recordings ending in a period, to decide in Python
    what ``applies_clause`` decides in SQL, for many rows at once (the deadline report's late rows)."""

    by_item: dict[int, Excuse]
    windows: list[Excuse]  # oldest first

    def applicable(
        self, item_id: int, officer_id: str | None, device_serial: str | None, end: datetime
    ) -> Excuse | None:
        """The excuse that applies to this recording (the oldest unrevoked one), if any."""
        found = self.by_item.get(item_id)
        for w in self.windows:
            if found is not None and found.id < w.id:
                break
            assert w.window_from is not None and w.window_to is not None
            named = (w.officer_id is not None and w.officer_id == officer_id) or (
                w.device_serial is not None and w.device_serial == device_serial
            )
            if named and w.window_from <= end < w.window_to:
                return w
        return found


def in_force(session: Session, lo: datetime, hi: datetime) -> InForce:
    """The unrevoked excuses of recordings ending in [lo, hi): those of one such item, and the
    windows that overlap the period."""
    by_item = {
        e.item_id: e
        for e in session.scalars(
            select(Excuse)
            .where(
                Excuse.revoked_at.is_(None),
                # correlated, so that the few excuses drive the search (each item found by its key)
                select(Item.id)
                .where(Item.id == Excuse.item_id, Item.recorded_end >= lo, Item.recorded_end < hi)
                .exists(),
            )
            .order_by(Excuse.id.desc())  # the oldest of an item's excuses wins
        )
        if e.item_id is not None
    }
    windows = session.scalars(
        select(Excuse)
        .where(Excuse.revoked_at.is_(None), Excuse.item_id.is_(None), Excuse.window_from < hi, Excuse.window_to > lo)
        .order_by(Excuse.id)
    )
    return InForce(by_item, list(windows))


def approver(session: Session, username: str) -> Principal:
    """The user a console command acts for (``--by USERNAME``): NotFound, or Forbidden when disabled."""
    user = get_user(session, username)
    if user.disabled:
        raise Forbidden(f"user {username!r} is disabled")
    return Principal(user.id, user.username, user.unit, parse_roles(user.roles), user.officer_id)


def _reason(text: str, what: str = "reason") -> str:
    text = text.strip()
    if len(text) < 3:
        raise InvalidInput(f"{what}: say why (at least 3 characters)")
    if len(text) > MAX_REASON:
        raise InvalidInput(f"{what}: at most {MAX_REASON} characters")
    return text


def excuse_view(excuse: Excuse) -> dict[str, Any]:
    return {
        "id": excuse.id,
        "item_id": excuse.item_id,
        "officer_id": excuse.officer_id,
        "device_serial": excuse.device_serial,
        "from": iso(excuse.window_from),
        "to": iso(excuse.window_to),
        "reason": excuse.reason,
        "approved_by": excuse.approved_by,
        "approved_at": iso(excuse.approved_at),
        "active": excuse.revoked_at is None,
        "revoked_at": iso(excuse.revoked_at),
        "revoked_by": excuse.revoked_by,
        "revoke_reason": excuse.revoke_reason,
    }


def _window_filter(officer_id: str | None, device_serial: str | None) -> ColumnElement[bool]:
    return Item.officer_id == officer_id if officer_id is not None else Item.device_serial == device_serial


def window_units(
    session: Session, officer_id: str | None, device_serial: str | None, start: datetime, end: datetime
) -> set[str | None]:
    """Every unit the officer (or recorder) was with during [start, end): its assignments then, and
    the units of its recordings that ended then; for an officer with neither, their user's unit."""
    if officer_id is not None:
        holder = DeviceAssignment.officer_id == officer_id
    else:
        holder = DeviceAssignment.serial == device_serial
    units: set[str | None] = set(
        session.scalars(
            select(DeviceAssignment.unit).where(
                holder,
                DeviceAssignment.since < end,
                or_(DeviceAssignment.until.is_(None), DeviceAssignment.until > start),
            )
        )
    )
    units |= set(
        session.scalars(
            select(Item.unit)
            .where(_window_filter(officer_id, device_serial), Item.recorded_end >= start, Item.recorded_end < end)
            .distinct()
        )
    )
    if not units and officer_id is not None:
        units |= set(session.scalars(select(User.unit).where(User.officer_id == officer_id)))
    return units


def _units_of(session: Session, excuse: Excuse) -> set[str | None]:
    if excuse.item_id is not None:
        item = session.get(Item, excuse.item_id)
        return {item.unit if item else None}
    assert excuse.window_from is not None and excuse.window_to is not None
    return window_units(session, excuse.officer_id, excuse.device_serial, excuse.window_from, excuse.window_to)


def excuse_item(session: Session, who: Principal, item_id: int, *, reason: str, agent: str) -> Excuse:
    """``who`` excuses the lateness of item ``item_id``: 404 if hidden from them, 403 unless they
    supervise its unit, 409 if it was on time, is not judged, or is excused already."""
    access.item_for(session.connection(), who, item_id, Action.VIEW_METADATA)
    item = session.scalars(select(Item).where(Item.id == item_id).with_for_update(key_share=True)).one()
    access.require(access.decide_excuse(who, {item.unit}), "excuse", item_id=item.id)
    reason = _reason(reason)
    if item.on_time is None:
        raise Conflict(f"item {item_id}: its upload deadline is not judged (unattributed, or not yet probed)")
    if item.on_time:
        raise Conflict(f"item {item_id} reached the station on time: there is no lateness to excuse")
    already = session.scalar(select(Excuse.id).where(applies_clause(), Item.id == item.id).order_by(Excuse.id))
    if already is not None:
        raise Conflict(f"item {item_id} is already excused (excuse {already}); revoke that first to change it")
    excuse = Excuse(item_id=item.id, reason=reason, approved_by=who.username, approved_at=utcnow())
    session.add(excuse)
    session.flush()
    custody.append(
        session,
        EventKind.LATENESS_EXCUSED,
        agent=agent,
        item_id=item.id,
        details={"excuse_id": excuse.id, "by": who.username, "reason": reason, "late_by_s": item.late_by_s},
    )
    return excuse


def excuse_window(
    session: Session,
    who: Principal,
    *,
    officer_id: str | None = None,
    device_serial: str | None = None,
    start: datetime,
    end: datetime,
    reason: str,
    agent: str,
) -> tuple[Excuse, list[int]]:
    """``who`` excuses the lateness of an officer's (or a recorder's) recordings that end in
    [start, end), now or arriving later. Returns the excuse and the late items it covers now."""
    if (officer_id is None) == (device_serial is None):
        raise InvalidInput("name either an officer or a recorder (device), not both")
    officer_id = officer_id.strip() if officer_id is not None else None
    device_serial = device_serial.strip() if device_serial is not None else None
    if not (officer_id or device_serial):
        raise InvalidInput("officer or device: must not be empty")
    start, end = time_filter(start, "from"), time_filter(end, "to")
    if start >= end:
        raise InvalidInput("from must be before to")
    check_names(session, officer=officer_id, device=device_serial)
    units = window_units(session, officer_id, device_serial, start, end)
    what = {"officer_id": officer_id} if officer_id is not None else {"device_serial": device_serial}
    access.require(access.decide_excuse(who, units), "excuse", **what)
    reason = _reason(reason)
    excuse = Excuse(
        officer_id=officer_id,
        device_serial=device_serial,
        window_from=start,
        window_to=end,
        reason=reason,
        approved_by=who.username,
        approved_at=utcnow(),
    )
    session.add(excuse)
    session.flush()
    covered = list(
        session.scalars(
            select(Item.id)
            .where(
                _window_filter(officer_id, device_serial),
                Item.recorded_end >= start,
                Item.recorded_end < end,
                Item.on_time.is_(False),
            )
            .order_by(Item.id)
        )
    )
    custody.append(
        session,
        EventKind.LATENESS_EXCUSED,
        agent=agent,
        details={
            "excuse_id": excuse.id,
            **what,
            "from": iso(start),
            "to": iso(end),
            "by": who.username,
            "reason": reason,
            "late_items_now": covered,
        },
    )
    return excuse, covered


def revoke(session: Session, who: Principal, excuse_id: int, *, reason: str, agent: str) -> Excuse:
    """``who`` revokes an excuse (a supervisor of the unit it concerns): 404, 403, or 409 when revoked already."""
    excuse = (
        session.scalars(select(Excuse).where(Excuse.id == excuse_id).with_for_update()).first()
        if valid_id(excuse_id)
        else None
    )
    if excuse is None:
        raise NotFound(f"no excuse {excuse_id}")
    if excuse.item_id is not None:
        access.item_for(session.connection(), who, excuse.item_id, Action.VIEW_METADATA)
    access.require(access.decide_excuse(who, _units_of(session, excuse)), "revoke_excuse", item_id=excuse.item_id)
    reason = _reason(reason)
    if excuse.revoked_at is not None:
        raise Conflict(f"excuse {excuse_id} was revoked already ({iso(excuse.revoked_at)} by {excuse.revoked_by})")
    excuse.revoked_at, excuse.revoked_by, excuse.revoke_reason = utcnow(), who.username, reason
    custody.append(
        session,
        EventKind.EXCUSE_REVOKED,
        agent=agent,
        item_id=excuse.item_id,
        details={"excuse_id": excuse.id, "by": who.username, "reason": reason},
    )
    session.flush()
    return excuse


def list_excuses(
    session: Session,
    who: Principal | None,
    *,
    item_id: int | None = None,
    officer_id: str | None = None,
    device_serial: str | None = None,
    active: bool | None = None,
) -> list[Excuse]:
    """Excuses, newest first, filtered; ``who`` None: the station's console (all). Auditors see all,
    supervisors those of their unit's recordings, officers and recorders."""
    query = select(Excuse).order_by(Excuse.id.desc())
    if who is not None:
        access.require(access.decide_list_excuses(who), "list_excuses")
        if not access.sees_every_unit(who):
            query = query.where(_unit_clause(who.unit))
    if item_id is not None:
        query = query.where(Excuse.item_id == item_id)
    if officer_id is not None:
        query = query.where(Excuse.officer_id == officer_id)
    if device_serial is not None:
        query = query.where(Excuse.device_serial == device_serial)
    if active is not None:
        query = query.where(Excuse.revoked_at.is_(None) if active else Excuse.revoked_at.is_not(None))
    return list(session.scalars(query.limit(1000)))


def _unit_clause(unit: str) -> ColumnElement[bool]:
    """SQL: this excuse concerns recordings of ``unit`` (its item's unit; a window's officer or
    recorder assigned to the unit, or the officer a user of the unit)."""
    return or_(
        Excuse.item_id.in_(select(Item.id).where(Item.unit == unit)),
        Excuse.officer_id.in_(select(DeviceAssignment.officer_id).where(DeviceAssignment.unit == unit)),
        Excuse.officer_id.in_(select(User.officer_id).where(User.unit == unit)),
        Excuse.device_serial.in_(select(DeviceAssignment.serial).where(DeviceAssignment.unit == unit)),
    )
