"""Attributing unattributed footage to a recorder after the fact, as a custody event.

The recorder's assignment at the recording's start gives the officer and the unit; the upload
deadline is then judged on when the footage reached the station, as at ingest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from evidence import access, custody, devices, report_rollup
from evidence.access import Action
from evidence.custody import EventKind
from evidence.deadlines import check_deadline
from evidence.errors import Conflict, InvalidInput, NotFound
from evidence.items import is_unattributed, iso
from evidence.models import DeviceAssignment, Item
from evidence.users import Principal


@dataclass(frozen=True)
class Attribution:
    """An unattributed item (locked for this transaction) and the assignment it would take."""

    item: Item
    assignment: DeviceAssignment
    recorded_end: datetime  # the item's, known to be set


def prepare(session: Session, item_id: int, serial: str) -> Attribution:
    """Check that ``item_id`` can be attributed to recorder ``serial``: 404, 409 or 422 if not."""
    serial = serial.strip()
    if not serial:
        raise InvalidInput("device: give the recorder's serial")
    item = session.scalars(select(Item).where(Item.id == item_id).with_for_update(key_share=True)).first()
    if item is None:
        raise NotFound(f"no item {item_id}")
    if not is_unattributed(item):
        whose = f"recorder {item.device_serial}" if item.device_serial else f"its source, item {item.derived_from}"
        raise Conflict(f"item {item_id} is already attributed to {whose}")
    if item.recorded_start is None or item.recorded_end is None:
        raise Conflict(f"item {item_id}: its recording times are not assessed yet; try again once it is probed")
    assignment = devices.assignment_at(session, serial, item.recorded_start)
    if assignment is None:
        raise InvalidInput(
            f"device: no officer carried recorder {serial} at {iso(item.recorded_start)}; "
            "record the assignment first (evidence devices assign)"
        )
    return Attribution(item, assignment, item.recorded_end)


def apply(session: Session, plan: Attribution, *, by: str, reason: str, agent: str, deadline_hours: float) -> Item:
    """Give the item the recorder, officer and unit, judge its deadline, and log ``attributed``."""
    if not reason.strip():
        raise InvalidInput("reason: say why the footage is this recorder's")
    item, assignment = plan.item, plan.assignment
    before = report_rollup.contribution(session, item)
    check = check_deadline(plan.recorded_end, item.received_at, deadline_hours)
    item.device_serial, item.officer_id, item.unit = assignment.serial, assignment.officer_id, assignment.unit
    item.upload_deadline, item.on_time, item.late_by_s = check.deadline, check.on_time, check.late_by_s
    custody.append(
        session,
        EventKind.ATTRIBUTED,
        agent=agent,
        item_id=item.id,
        details={
            "device_serial": assignment.serial,
            "officer_id": assignment.officer_id,
            "unit": assignment.unit,
            "assignment_since": iso(assignment.since),
            "by": by,
            "reason": reason,
            "after_ingest": True,
            "upload_deadline": iso(check.deadline),
            "on_time": check.on_time,
            "late_by_s": check.late_by_s,
        },
    )
    report_rollup.update(session, before, item)  # the deadline report's rollup, kept exact
    return item


def attribute(
    session: Session, who: Principal, item_id: int, serial: str, *, reason: str, agent: str, deadline_hours: float
) -> Item:
    """``who`` attributes item ``item_id`` to recorder ``serial``: ``prepare``, ask the policy, ``apply``."""
    access.item_for(session.connection(), who, item_id, Action.VIEW_METADATA)
    plan = prepare(session, item_id, serial)
    decision = access.decide_attribution(who, plan.assignment.unit)
    access.require(decision, "attribute", item_id=item_id, device=serial)
    return apply(session, plan, by=who.username, reason=reason.strip(), agent=agent, deadline_hours=deadline_hours)
