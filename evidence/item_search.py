"""Searching the items a user may see: filters, paging by id, and what each row shows beside the item."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute, Session

from evidence import access, cases
from evidence.items import check_names, time_filter, unattributed_clause
from evidence.models import CaseItem, Item, Mark
from evidence.users import Principal


@dataclass(frozen=True)
class ItemFilter:
    officer: str | None = None
    unit: str | None = None
    device: str | None = None
    station: str | None = None
    status: str | None = None
    on_time: bool | None = None
    unattributed: bool | None = None
    recorded_from: datetime | None = None
    recorded_to: datetime | None = None
    received_from: datetime | None = None
    received_to: datetime | None = None
    case: str | None = None  # a case number
    case_id: int | None = None
    mark: str | None = None  # 'important' or a tag
    retention_class: str | None = None  # ordinary | important | case | hold
    fixity_alarm: bool | None = None  # true: only items a fixity audit found changed or missing


@dataclass(frozen=True)
class Found:
    item: Item
    marks: list[dict[str, Any]]
    cases: list[str]  # numbers of the cases it is linked to


def page(session: Session, who: Principal, f: ItemFilter, limit: int, after: int = 0) -> tuple[list[Found], bool]:
    """Up to ``limit`` items ``who`` may see, matching ``f``, with ids above ``after``; and whether
    more follow. A filter naming an officer, unit, device, station, case or tag not known is InvalidInput."""
    query = select(Item).where(access.visible(who), Item.id > after).order_by(Item.id).limit(limit + 1)
    for column, value in (
        (Item.officer_id, f.officer),
        (Item.unit, f.unit),
        (Item.device_serial, f.device),
        (Item.station_id, f.station),
        (Item.status, f.status),
        (Item.on_time, f.on_time),
        (Item.retention_class, f.retention_class),
        (Item.fixity_alarm, f.fixity_alarm),
    ):
        if value is not None:
            query = query.where(column == value)
    if f.unattributed is not None:
        query = query.where(unattributed_clause(f.unattributed))
    bounds: tuple[tuple[InstrumentedAttribute[datetime | None], dict[str, datetime | None]], ...] = (
        (Item.recorded_start, {"recorded_from": f.recorded_from, "recorded_to": f.recorded_to}),
        (Item.received_at, {"received_from": f.received_from, "received_to": f.received_to}),
    )
    for moment, times in bounds:
        for (name, bound), keep in zip(times.items(), (moment.__ge__, moment.__lt__), strict=True):
            if bound is not None:
                query = query.where(keep(time_filter(bound, name)))
    check_names(session, officer=f.officer, unit=f.unit, device=f.device, station=f.station)
    linked = cases.case_filter(session, access.visible_cases(who), f.case, f.case_id)
    if linked is not None:
        query = query.where(
            Item.id.in_(select(CaseItem.item_id).where(CaseItem.case_id == linked, CaseItem.unlinked_at.is_(None)))
        )
    marked = cases.mark_filter(session, access.visible(who), f.mark)
    if marked is not None:
        query = query.where(Item.id.in_(select(Mark.item_id).where(marked)))
    rows = list(session.scalars(query))
    shown = rows[:limit]
    ids = [r.id for r in shown]
    marks, numbers = cases.marks_of_items(session.connection(), ids), cases.cases_of_items(session.connection(), ids)
    return [Found(r, marks[r.id], numbers[r.id]) for r in shown], len(rows) > limit
