"""Overdue recorders on crafted assignments, arrivals and shifts, with known answers (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from evidence import devices, overdue, shifts
from evidence.access import Refused
from evidence.models import Item
from evidence.unit_of_work import transaction
from evidence.users import Principal, Role

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)


def arrival(session, serial: str, received_at: datetime, *, clip_of: int | None = None) -> Item:
    """An original (or a clip) from ``serial`` that reached the station at ``received_at``."""
    digest = hashlib.sha256(f"{serial}{received_at.isoformat()}{clip_of}".encode()).hexdigest()
    item = Item(
        sha256=digest,
        size_bytes=1,
        object_key=f"originals/{digest}",
        original_filename="a.mp4",
        source_path=f"{serial}/a.mp4",
        source_mtime=received_at,
        device_serial=serial,
        station_id="ST01",
        received_at=received_at,
        stored_at=received_at,
        derived_from=clip_of,
    )
    session.add(item)
    session.flush()
    return item


def report(sessions, now=NOW, hours=24.0, unit=None):
    with transaction(sessions) as session:
        return overdue.report(session, now, hours, unit)


def by_serial(rows):
    return {r["device_serial"]: r for r in rows}


def test_never_docked_recently_docked_and_long_ago(any_sessions):
    with transaction(any_sessions) as s:
        devices.assign(s, "NEVER", "110001", NOW - 30 * H, "U1")  # never docked: 6 h overdue
        devices.assign(s, "FRESH", "110002", NOW - 100 * H, "U1")
        arrival(s, "FRESH", NOW - 2 * H)  # docked recently: not overdue
        devices.assign(s, "OLD", "220001", NOW - 500 * H, "U2")
        arrival(s, "OLD", NOW - 400 * H)
        arrival(s, "OLD", NOW - 100 * H)  # the last arrival counts: 76 h overdue
        devices.assign(s, "EDGE", "220002", NOW - 200 * H, "U2")
        arrival(s, "EDGE", NOW - 24 * H)  # exactly at the deadline: not overdue
        devices.assign(s, "EDGE2", "220003", NOW - 200 * H, "U2")
        arrival(s, "EDGE2", NOW - 24 * H - timedelta(seconds=36))  # 0.01 h past it
        arrival(s, "LOOSE", NOW - 300 * H)  # never assigned: never counts
    rows = report(any_sessions)
    assert [r["device_serial"] for r in rows] == ["OLD", "NEVER", "EDGE2"]  # most overdue first
    assert rows[0] == {
        "device_serial": "OLD",
        "officer_id": "220001",
        "unit": "U2",
        "last_arrival_at": "2026-11-16T08:00:00Z",
        "since": "2026-11-16T08:00:00Z",
        "hours_overdue": 76.0,
    }
    assert rows[1]["last_arrival_at"] is None and rows[1]["since"] == "2026-11-19T06:00:00Z"
    assert rows[1]["hours_overdue"] == 6.0 and rows[2]["hours_overdue"] == 0.01
    assert [r["device_serial"] for r in report(any_sessions, unit="U1")] == ["NEVER"]
    assert report(any_sessions, hours=100) == []


def test_reassigned_recorder_counts_from_the_later_of_handover_and_arrival(any_sessions):
    with transaction(any_sessions) as s:
        devices.assign(s, "R1", "110001", NOW - 500 * H, "U1")
        arrival(s, "R1", NOW - 300 * H)
        devices.assign(s, "R1", "110002", NOW - 50 * H, "U1")  # handed over after the last arrival
        devices.assign(s, "R2", "110001", NOW - 500 * H, "U1")
        devices.assign(s, "R2", "110003", NOW - 100 * H, "U1")
        arrival(s, "R2", NOW - 30 * H)  # arrived after the handover
        devices.assign(s, "R3", "110004", NOW - 500 * H, "U1")
        devices.assign(s, "R3", "110005", NOW + 10 * H, "U1")  # handed over later: still 110004's now
    rows = by_serial(report(any_sessions))
    assert rows["R1"]["officer_id"] == "110002" and rows["R1"]["since"] == "2026-11-18T10:00:00Z"
    assert rows["R1"]["last_arrival_at"] == "2026-11-08T00:00:00Z" and rows["R1"]["hours_overdue"] == 26.0
    assert rows["R2"]["officer_id"] == "110003" and rows["R2"]["hours_overdue"] == 6.0
    assert rows["R3"]["officer_id"] == "110004" and rows["R3"]["hours_overdue"] == 476.0


def test_unassigned_and_returned_recorders_never_count(any_sessions):
    with transaction(any_sessions) as s:
        devices.assign(s, "LATER", "110001", NOW + H, "U1")  # assigned from a time still to come
        arrival(s, "GONE", NOW - 300 * H)
    assert report(any_sessions) == []


def test_clips_and_future_arrivals_are_not_arrivals(any_sessions):
    with transaction(any_sessions) as s:
        devices.assign(s, "C1", "110001", NOW - 100 * H, "U1")
        source = arrival(s, "C1", NOW - 50 * H)
        arrival(s, "C1", NOW - H, clip_of=source.id)  # a clip cut an hour ago is no docking
        arrival(s, "C1", NOW + H)  # after the report's clock
    (row,) = report(any_sessions)
    assert row["last_arrival_at"] == "2026-11-18T10:00:00Z" and row["hours_overdue"] == 26.0


def test_only_time_on_duty_counts_when_the_officer_has_shifts(any_sessions):
    with transaction(any_sessions) as s:
        for serial, officer in (("S1", "110001"), ("S2", "110002"), ("S3", "110003"), ("S4", "110004")):
            devices.assign(s, serial, officer, NOW - 1000 * H, "U1")
            arrival(s, serial, NOW - 72 * H)  # three days of wall-clock time: 48 h past the deadline
        day = NOW - 72 * H
        for k in range(3):  # 110001: three 10-hour shifts since: 30 h on duty
            start = day + 2 * H + k * 24 * H
            shifts.add(s, "110001", start, start + 10 * H, created_by="t", source="cli")
        # 110002: two 10-hour shifts: 20 h on duty, not overdue
        shifts.add(s, "110002", day, day + 10 * H, created_by="t", source="cli")
        shifts.add(s, "110002", day + 24 * H, day + 34 * H, created_by="t", source="cli")
        # 110003: shift records, but none since the last arrival: never overdue
        shifts.add(s, "110003", day - 100 * H, day - 90 * H, created_by="t", source="cli")
        # 110004 has no shift records: the whole 72 h counts
        # a shift straddling the last arrival and one still running count only their part in [since, now]
        shifts.add(s, "110001", day - 5 * H, day + H, created_by="t", source="cli")  # 1 h of it
        shifts.add(s, "110001", NOW - 2 * H, NOW + 6 * H, created_by="t", source="cli")  # 2 h so far
    rows = by_serial(report(any_sessions))
    assert set(rows) == {"S1", "S4"}
    assert rows["S1"]["hours_overdue"] == 9.0  # 1 + 30 + 2 on duty, minus 24
    assert rows["S4"]["hours_overdue"] == 48.0
    assert [r["device_serial"] for r in report(any_sessions)] == ["S4", "S1"]


def test_on_duty_counts_overlaps_once():
    t = NOW
    assert overdue.on_duty([(t, t + 2 * H), (t + H, t + 3 * H), (t + 5 * H, t + 6 * H)], t, t + 10 * H) == 4 * H
    assert overdue.on_duty([(t - H, t + H)], t, t + 10 * H) == H
    assert overdue.on_duty([], t, t + H) == timedelta(0)


def test_who_sees_the_report(any_sessions):
    with transaction(any_sessions) as s:
        devices.assign(s, "A", "110001", NOW - 100 * H, "U1")
        devices.assign(s, "B", "220001", NOW - 100 * H, "U2")

    def as_(roles, unit="U1"):
        who = Principal(1, "x", unit, frozenset(roles), None)
        with transaction(any_sessions) as s:
            return [r["device_serial"] for r in overdue.report_for(s, who, NOW, 24)]

    assert as_({Role.AUDITOR}) == ["A", "B"]
    assert as_({Role.SUPERVISOR}) == ["A"]
    assert as_({Role.SUPERVISOR}, "U2") == ["B"]
    for roles in ({Role.OFFICER}, {Role.REVIEWER}, {Role.ADMIN}):
        with pytest.raises(Refused):
            as_(roles)
