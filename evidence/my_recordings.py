"""An officer's own recordings (attributed to their 警号), and the recorders they may name in an upload."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from evidence import access, devices
from evidence.models import DeviceAssignment, Item, utcnow
from evidence.users import Principal, Role


@dataclass(frozen=True)
class MyRecordings:
    items: list[Item]  # newest first
    older: int | None  # the id to page on from (``before``), when older items follow
    recorders: list[str]  # the recorders assigned to the officer now (the upload form names one)
    may_upload: bool


def recorders_of(session: Session, officer_id: str | None, moment: datetime | None = None) -> list[str]:
    """The serials of the recorders assigned to officer ``officer_id`` at ``moment`` (now)."""
    if not officer_id:
        return []
    moment = moment or utcnow()
    serials = session.scalars(
        select(DeviceAssignment.serial).where(
            DeviceAssignment.officer_id == officer_id,
            DeviceAssignment.since <= moment,
            or_(DeviceAssignment.until.is_(None), DeviceAssignment.until > moment),
        )
    )
    # an assignment counts while it is the recorder's one in force (a later one for another officer ends it)
    return sorted(
        s
        for s in set(serials)
        if (now := devices.assignment_at(session, s, moment)) is not None and now.officer_id == officer_id
    )


def of(session: Session, who: Principal, limit: int, before: int | None = None) -> MyRecordings:
    """The items attributed to ``who``'s 警号 that ``who`` may see (the API's rule), newest first,
    below the id ``before``."""
    may_upload = bool(access.UPLOADERS & who.roles)
    if Role.OFFICER not in who.roles or not who.officer_id:
        return MyRecordings([], None, [], may_upload)
    query = (
        select(Item)
        .where(access.visible(who), Item.officer_id == who.officer_id)
        .order_by(Item.id.desc())
        .limit(limit + 1)
    )
    if before is not None:
        query = query.where(Item.id < before)
    rows = list(session.scalars(query))
    shown = rows[:limit]
    older = shown[-1].id if len(rows) > limit else None
    return MyRecordings(shown, older, recorders_of(session, who.officer_id), may_upload)
