"""Overdue recorders: assigned to an officer, and nothing has arrived from them for too long.

A recorder is overdue at ``now`` when an assignment is in force for it (``device_assignments``:
started at or before ``now``, not ended by then) and more than ``deadline_hours`` have passed since
``since``: its last arrival (``items.received_at`` of an original from it, clips excluded), or the
start of the current assignment when that is later (it never docked, or was handed to another
officer since). When the officer has any shift records, only time on duty counts:
``hours_overdue`` = on-duty hours between ``since`` and ``now`` minus ``deadline_hours``; an officer
with shift records but none in that span is never overdue. Exactly at the deadline is not overdue.

Three queries whatever the number of recorders: the assignments in force, the last arrivals (a
correlated ``max(received_at)`` per recorder held, one seek each in the partial index
``ix_items_device_received``: the work grows with the recorders, not with the recordings), the
shifts of the officers concerned.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from evidence import access
from evidence.items import iso, time_filter
from evidence.models import DeviceAssignment, Item, Shift
from evidence.users import Principal, Role

COLUMNS = ("device_serial", "officer_id", "unit", "last_arrival_at", "since", "hours_overdue")


@dataclass(frozen=True)
class Held:
    """A recorder in an officer's hands now."""

    serial: str
    officer_id: str
    unit: str | None
    assigned_since: datetime


def _held(session: Session, now: datetime, unit: str | None) -> list[Held]:
    a = DeviceAssignment
    query = select(a.serial, a.officer_id, a.unit, a.since).where(a.since <= now, or_(a.until.is_(None), a.until > now))
    if unit is not None:
        query = query.where(a.unit == unit)
    held: dict[str, Held] = {}
    for serial, officer, their_unit, since in session.execute(query.order_by(a.since)):
        held[serial] = Held(serial, officer, their_unit, since)  # the latest start wins
    return list(held.values())


def _last_arrivals(session: Session, now: datetime, unit: str | None) -> dict[str, datetime]:
    """The last arrival (at or before ``now``) of each recorder held at ``now``: one seek per
    recorder in ``ix_items_device_received`` (a correlated ``max``, read from the end of the
    recorder's range), never a scan of every item."""
    a = DeviceAssignment
    last = (
        select(func.max(Item.received_at))
        .where(Item.device_serial == a.serial, Item.derived_from.is_(None), Item.received_at <= now)
        .correlate(a)
        .scalar_subquery()
    )
    query = select(a.serial, last).where(a.since <= now, or_(a.until.is_(None), a.until > now))
    if unit is not None:
        query = query.where(a.unit == unit)
    return {serial: _aware(at) for serial, at in session.execute(query.distinct()) if at is not None}


def _aware(moment: datetime) -> datetime:
    """MAX() keeps the column's type on both databases; this only guards a driver that loses it."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _shifts(
    session: Session, officers: set[str], start: datetime, now: datetime
) -> dict[str, list[tuple[datetime, datetime]]]:
    """For each of ``officers`` who has any shift record: their shifts overlapping [start, now]
    (possibly none)."""
    if not officers:
        return {}
    having = set(session.scalars(select(Shift.officer_id).where(Shift.officer_id.in_(officers)).distinct()))
    found: dict[str, list[tuple[datetime, datetime]]] = {o: [] for o in having}
    if having:
        query = select(Shift.officer_id, Shift.starts_at, Shift.ends_at).where(
            Shift.officer_id.in_(having), Shift.ends_at > start, Shift.starts_at < now
        )
        for officer, starts, ends in session.execute(query):
            found[officer].append((starts, ends))
    return found


def on_duty(shifts: Iterable[tuple[datetime, datetime]], start: datetime, end: datetime) -> timedelta:
    """Time within [start, end] covered by ``shifts`` (overlaps counted once)."""
    total = timedelta(0)
    reached = start
    for s, e in sorted(shifts):
        s, e = max(s, reached), min(e, end)
        if e > s:
            total += e - s
            reached = e
    return total


def report(session: Session, now: datetime, deadline_hours: float, unit: str | None = None) -> list[dict[str, Any]]:
    """The overdue recorders at ``now`` (of ``unit``'s assignments, or all), most overdue first."""
    now = time_filter(now, "now")
    deadline = timedelta(hours=deadline_hours)
    held = _held(session, now, unit)
    last = _last_arrivals(session, now, unit)
    candidates = []
    for h in held:
        arrived = last.get(h.serial)
        since = max(h.assigned_since, arrived) if arrived is not None else h.assigned_since
        if now - since > deadline:  # on-duty time is never more than the time that passed
            candidates.append((h, arrived, since))
    if not candidates:
        return []
    duty = _shifts(session, {h.officer_id for h, _, _ in candidates}, min(s for _, _, s in candidates), now)
    rows: list[tuple[timedelta, dict[str, Any]]] = []
    for h, arrived, since in candidates:
        counted = on_duty(duty[h.officer_id], since, now) if h.officer_id in duty else now - since
        if counted <= deadline:
            continue
        rows.append(
            (
                counted - deadline,
                {
                    "device_serial": h.serial,
                    "officer_id": h.officer_id,
                    "unit": h.unit,
                    "last_arrival_at": iso(arrived),
                    "since": iso(since),
                    "hours_overdue": round((counted - deadline).total_seconds() / 3600, 3),
                },
            )
        )
    rows.sort(key=lambda r: (-r[0], r[1]["device_serial"]))
    return [row for _, row in rows]


def report_for(session: Session, who: Principal, now: datetime, deadline_hours: float) -> list[dict[str, Any]]:
    """``report`` as ``who`` may see it: auditors every unit, supervisors their unit's recorders."""
    access.require(access.decide_reports(who), "overdue_report")
    unit = None if Role.AUDITOR in who.roles else who.unit
    return report(session, now, deadline_hours, unit)
