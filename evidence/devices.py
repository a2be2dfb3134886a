"""The time-ranged registry of which officer carried which recorder."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from evidence.errors import InvalidInput
from evidence.models import DeviceAssignment, utcnow


def assign(
    session: Session, serial: str, officer_id: str, since: datetime | None = None, unit: str | None = None
) -> DeviceAssignment:
    """Give ``serial`` to ``officer_id`` (of ``unit``) from ``since`` on, closing the assignment then in force."""
    serial, officer_id = serial.strip(), officer_id.strip()
    if not serial or not officer_id:
        raise InvalidInput("serial and officer id must not be empty")
    since = since or utcnow()
    if since.tzinfo is None:
        raise InvalidInput("since must carry a time zone")
    later = session.scalars(
        select(DeviceAssignment)
        .where(DeviceAssignment.serial == serial, DeviceAssignment.since >= since)
        .order_by(DeviceAssignment.since)
    ).first()
    if later is not None:
        raise InvalidInput(
            f"{serial} already has an assignment from {later.since.isoformat()}; assignments are added in time order"
        )
    current = assignment_at(session, serial, since)
    if current is not None:
        current.until = since
    row = DeviceAssignment(serial=serial, officer_id=officer_id, unit=unit, since=since, until=None)
    session.add(row)
    session.flush()
    return row


def assignment_at(session: Session, serial: str, moment: datetime) -> DeviceAssignment | None:
    """The assignment in force for ``serial`` at ``moment``, if any."""
    return session.scalars(
        select(DeviceAssignment)
        .where(
            DeviceAssignment.serial == serial,
            DeviceAssignment.since <= moment,
            or_(DeviceAssignment.until.is_(None), DeviceAssignment.until > moment),
        )
        .order_by(DeviceAssignment.since.desc())
    ).first()


def assignments(session: Session, serial: str | None = None) -> list[DeviceAssignment]:
    query = select(DeviceAssignment).order_by(DeviceAssignment.serial, DeviceAssignment.since)
    if serial:
        query = query.where(DeviceAssignment.serial == serial)
    return list(session.scalars(query))
