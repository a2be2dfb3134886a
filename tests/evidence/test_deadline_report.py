"""The upload-deadline report on crafted recordings with known answers, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from datetime import date
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event

from evidence import deadline_report, excuses
from evidence.access import Refused
from evidence.deadline_report import GroupBy
from evidence.errors import InvalidInput
from evidence.unit_of_work import transaction
from evidence.users import Principal, Role
from tests.evidence.reporting import recording, utc

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOV = (date(2026, 11, 1), date(2026, 11, 30))
AUDITOR = Principal(90, "aud", "U9", frozenset({Role.AUDITOR}), None)
SUP1 = Principal(91, "sup1", "U1", frozenset({Role.SUPERVISOR}), None)
SUP2 = Principal(92, "sup2", "U2", frozenset({Role.SUPERVISOR}), None)


def run(sessions, who=AUDITOR, period=NOV, group_by=GroupBy.OFFICER, **kwargs):
    with transaction(sessions) as session:
        return deadline_report.report(session, who, *period, group_by=group_by, zone=SHANGHAI, **kwargs)


def by_key(result):
    return {g["key"]: g for g in result["groups"]}


def test_counts_boundaries_and_doubtful_times(any_sessions):
    with transaction(any_sessions) as s:
        on_time = recording(s, utc(2026, 11, 3, 2), late_s=-60).id
        at_deadline = recording(s, utc(2026, 11, 3, 3), late_s=0).id
        one_second = recording(s, utc(2026, 11, 3, 4), late_s=1).id
        hour_late = recording(s, utc(2026, 11, 4, 4), late_s=3600).id
        day_late = recording(s, utc(2026, 11, 5, 4), late_s=86400).id
        mtime = recording(s, utc(2026, 11, 6, 4), late_s=50, time_source="file_mtime").id
        ahead = recording(s, utc(2026, 11, 6, 5), received_at=utc(2026, 11, 6, 4)).id
        nobody = recording(s, utc(2026, 11, 6, 6), late_s=7200, officer=None, unit=None, device=None).id
        recording(s, utc(2026, 11, 7), late_s=99, derived_from=on_time)  # a clip: not counted
        recording(s, utc(2026, 10, 20), late_s=500)  # another month
        other = recording(s, utc(2026, 11, 8), late_s=10, officer="220002", unit="U2", device="ZFY0002").id
    result = run(any_sessions)
    assert set(result) == {"from", "to", "group_by", "groups", "late_items", "doubtful_items"}
    assert (result["from"], result["to"], result["group_by"]) == ("2026-11-01", "2026-11-30", "officer")
    assert result["groups"] == [
        {
            "key": "110001",
            "recordings": 7,
            "on_time": 2,
            "late": 3,
            "excused": 0,
            "doubtful": 2,
            "compliance_rate": 0.4,
            "median_late_s": 3600.0,
            "max_late_s": 86400.0,
        },
        {
            "key": "220002",
            "recordings": 1,
            "on_time": 0,
            "late": 1,
            "excused": 0,
            "doubtful": 0,
            "compliance_rate": 0.0,
            "median_late_s": 10.0,
            "max_late_s": 10.0,
        },
        {
            "key": None,
            "recordings": 1,
            "on_time": 0,
            "late": 0,
            "excused": 0,
            "doubtful": 1,
            "compliance_rate": None,
            "median_late_s": None,
            "max_late_s": None,
        },
    ]
    assert [i["id"] for i in result["late_items"]] == [one_second, hour_late, day_late, other]
    first = result["late_items"][0]
    assert first == {
        "id": one_second,
        "officer_id": "110001",
        "unit": "U1",
        "device_serial": "ZFY0001",
        "recorded_end": "2026-11-03T04:00:00Z",
        "received_at": "2026-11-04T04:00:01Z",
        "late_by_s": 1.0,
        "excused": False,
        "excuse_reason": None,
        "excused_by": None,
    }
    assert result["doubtful_items"] == [
        {"id": mtime, "reason": deadline_report.MTIME_ONLY},
        {"id": ahead, "reason": deadline_report.CLOCK_AHEAD},
        {"id": nobody, "reason": f"{deadline_report.NO_OFFICER}; {deadline_report.NOT_JUDGED}"},
    ]
    assert at_deadline not in [i["id"] for i in result["late_items"]]


def test_median_of_an_even_count_is_the_mean_of_the_middle_two(any_sessions):
    with transaction(any_sessions) as s:
        for late in (10, 20, 40, 1000):
            recording(s, utc(2026, 11, 10), late_s=late)
    [group] = run(any_sessions, items=False)["groups"]
    assert (group["late"], group["median_late_s"], group["max_late_s"]) == (4, 30.0, 1000.0)


def test_local_calendar_days_decide_the_period_and_the_day(any_sessions):
    with transaction(any_sessions) as s:
        # 2026-10-31T16:00Z is midnight of November 1st in Shanghai
        before = recording(s, utc(2026, 10, 31, 15, 59, 59)).id
        first = recording(s, utc(2026, 10, 31, 16)).id
        last = recording(s, utc(2026, 11, 30, 15, 59, 59), late_s=5).id
        recording(s, utc(2026, 11, 30, 16))  # December 1st, local
    result = run(any_sessions, group_by=GroupBy.DAY)
    days = by_key(result)
    assert set(days) == {"2026-11-01", "2026-11-30"}
    assert days["2026-11-01"]["recordings"] == 1 and days["2026-11-30"]["late"] == 1
    assert [i["id"] for i in result["late_items"]] == [last]
    one_day = run(any_sessions, period=(date(2026, 10, 31), date(2026, 10, 31)), group_by=GroupBy.DAY)
    assert [(g["key"], g["recordings"]) for g in one_day["groups"]] == [("2026-10-31", 1)]
    assert before != first


@pytest.mark.parametrize(
    ("group_by", "keys"),
    [
        (GroupBy.OFFICER, {"110001": 2, "220002": 1}),
        (GroupBy.UNIT, {"U1": 2, "U2": 1}),
        (GroupBy.DEVICE, {"ZFY0001": 1, "ZFY0003": 1, "ZFY0002": 1}),
        (GroupBy.STATION, {"ST01": 2, "ST02": 1}),
        (GroupBy.DAY, {"2026-11-02": 2, "2026-11-03": 1}),
    ],
)
def test_each_grouping(sessions, group_by, keys):
    with transaction(sessions) as s:
        recording(s, utc(2026, 11, 2, 1))
        recording(s, utc(2026, 11, 2, 2), device="ZFY0003", station="ST02")
        recording(s, utc(2026, 11, 3, 2), officer="220002", unit="U2", device="ZFY0002")
    result = run(sessions, group_by=group_by)
    assert {g["key"]: g["recordings"] for g in result["groups"]} == keys
    assert [g["key"] for g in result["groups"]] == sorted(keys)


def test_excused_items_and_windows_and_revoked_excuses(any_sessions):
    with transaction(any_sessions) as s:
        item_excused = recording(s, utc(2026, 11, 2), late_s=100).id
        in_window = recording(s, utc(2026, 11, 3), late_s=200).id
        device_window = recording(s, utc(2026, 11, 4), late_s=300, officer="110009").id
        revoked = recording(s, utc(2026, 11, 5), late_s=400).id
        after_window = recording(s, utc(2026, 11, 6), late_s=500).id
    agent = "test"
    with transaction(any_sessions) as s:
        excuses.excuse_item(s, SUP1, item_excused, reason="recorder battery died", agent=agent)
        excuses.excuse_window(
            s, SUP1, officer_id="110001", start=utc(2026, 11, 3), end=utc(2026, 11, 3, 1), reason="flood", agent=agent
        )
        excuses.excuse_window(
            s, SUP1, device_serial="ZFY0001", start=utc(2026, 11, 4), end=utc(2026, 11, 5), reason="dock", agent=agent
        )
        gone = excuses.excuse_item(s, SUP1, revoked, reason="mistaken", agent=agent)
        excuses.revoke(s, SUP1, gone.id, reason="was not ill after all", agent=agent)
    result = run(any_sessions, group_by=GroupBy.UNIT)
    [group] = result["groups"]
    assert (group["recordings"], group["late"], group["excused"], group["on_time"]) == (5, 2, 3, 0)
    assert group["compliance_rate"] == 0.6
    assert (group["median_late_s"], group["max_late_s"]) == (450.0, 500.0)  # unexcused only
    items = {i["id"]: i for i in result["late_items"]}
    assert items[item_excused]["excused"] and items[item_excused]["excuse_reason"] == "recorder battery died"
    assert items[item_excused]["excused_by"] == "sup1"
    assert items[in_window]["excuse_reason"] == "flood" and items[device_window]["excuse_reason"] == "dock"
    assert not items[revoked]["excused"] and items[revoked]["excuse_reason"] is None
    assert not items[after_window]["excused"]


def test_supervisors_see_their_unit_others_are_refused(any_sessions):
    with transaction(any_sessions) as s:
        recording(s, utc(2026, 11, 2))
        recording(s, utc(2026, 11, 2), officer="220002", unit="U2", device="ZFY0002")
    assert [g["key"] for g in run(any_sessions, who=SUP1, group_by=GroupBy.UNIT)["groups"]] == ["U1"]
    assert [g["key"] for g in run(any_sessions, who=SUP2, group_by=GroupBy.UNIT)["groups"]] == ["U2"]
    assert [g["key"] for g in run(any_sessions, who=None, group_by=GroupBy.UNIT)["groups"]] == ["U1", "U2"]
    reviewer = Principal(93, "rev1", "U1", frozenset({Role.REVIEWER}), None)
    with pytest.raises(Refused):
        run(any_sessions, who=reviewer)


def test_bad_periods_are_refused(sessions):
    with pytest.raises(InvalidInput, match="ends before"):
        run(sessions, period=(date(2026, 11, 2), date(2026, 11, 1)))
    with pytest.raises(InvalidInput, match="longer"):
        run(sessions, period=(date(2000, 1, 1), date(2026, 1, 1)))
    with pytest.raises(InvalidInput, match="out of range"):
        run(sessions, period=(date(9999, 12, 31), date(9999, 12, 31)))
    assert run(sessions, period=(date(2026, 1, 1), date(2026, 1, 1)))["groups"] == []


def test_csv_and_table_have_the_json_columns(sessions):
    with transaction(sessions) as s:
        recording(s, utc(2026, 11, 2), late_s=12.5)
        recording(s, utc(2026, 11, 2), officer=None, unit=None, device=None)
    result = run(sessions)
    rows = list(csv.DictReader(io.StringIO(deadline_report.as_csv(result))))
    assert list(rows[0]) == list(deadline_report.COLUMNS)
    assert rows == [
        {
            "key": "110001",
            "recordings": "1",
            "on_time": "0",
            "late": "1",
            "excused": "0",
            "doubtful": "0",
            "compliance_rate": "0.0",
            "median_late_s": "12.5",
            "max_late_s": "12.5",
        },
        {
            "key": "",
            "recordings": "1",
            "on_time": "0",
            "late": "0",
            "excused": "0",
            "doubtful": "1",
            "compliance_rate": "",
            "median_late_s": "",
            "max_late_s": "",
        },
    ]
    table = deadline_report.as_table(result)
    lines = table.splitlines()
    assert lines[0] == "upload deadline report 2026-11-01 … 2026-11-30 by officer"
    assert lines[1].split() == ["officer", *deadline_report.COLUMNS[1:]]
    assert lines[2].split() == ["110001", "1", "0", "1", "0", "0", "0.0", "12.5", "12.5"]
    assert lines[3].split()[0] == "—"
    empty = deadline_report.as_table(run(sessions, period=(date(2026, 1, 1), date(2026, 1, 2))))
    assert "no recordings" in empty


def test_the_month_reads_only_its_rows_through_the_index(sessions):
    """The report's queries find the period's rows through ix_items_recorded_end (SQLite's plan names it)."""
    with transaction(sessions) as s:
        recording(s, utc(2026, 11, 2))
    seen: list[tuple[str, object]] = []
    engine = sessions.kw["bind"]

    def note(conn, cursor, statement, parameters, context, executemany):
        if "GROUP BY" in statement:
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", note)
    try:
        assert run(sessions, items=False)["groups"][0]["recordings"] == 1
    finally:
        event.remove(engine, "before_cursor_execute", note)
    assert seen
    with engine.connect() as conn:
        for statement, parameters in seen:
            plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
            steps = " | ".join(str(row[-1]) for row in plan)
            assert "items USING INDEX ix_items_recorded_end (recorded_end>? AND recorded_end<?)" in steps, steps
            assert "SCAN items" not in steps, steps
