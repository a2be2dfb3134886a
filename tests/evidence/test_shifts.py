"""Shifts: adding, refusing overlaps, importing a CSV all-or-nothing, who may add and list (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from evidence import devices, shifts, users
from evidence.access import Refused
from evidence.errors import Conflict, InvalidInput
from evidence.models import Shift
from evidence.unit_of_work import transaction
from evidence.users import Principal, Role

T = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
H = timedelta(hours=1)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def principal(roles, unit="U1", officer_id=None):
    return Principal(7, "someone", unit, frozenset(roles), officer_id)


def count(sessions) -> int:
    with transaction(sessions) as s:
        return s.scalar(select(func.count()).select_from(Shift)) or 0


def test_add_and_refuse_overlaps(any_sessions):
    with transaction(any_sessions) as s:
        row = shifts.add(s, " 110001 ", T, T + 8 * H, created_by="sup1", source="api")
        assert shifts.shift_view(row) | {"created_at": None} == {
            "id": row.id,
            "officer_id": "110001",
            "from": "2026-11-20T00:00:00Z",
            "to": "2026-11-20T08:00:00Z",
            "hours": 8.0,
            "source": "api",
            "created_by": "sup1",
            "created_at": None,
        }
        shifts.add(s, "110001", T + 8 * H, T + 16 * H, created_by="sup1", source="cli")  # touching is fine
        shifts.add(s, "110002", T, T + 8 * H, created_by="sup1", source="cli")  # another officer
    for start, end in ((T + 7 * H, T + 9 * H), (T - H, T + 20 * H), (T + H, T + 2 * H), (T, T + 8 * H)):
        with pytest.raises(Conflict, match="overlaps the shift"), transaction(any_sessions) as s:
            shifts.add(s, "110001", start, end, created_by="sup1", source="cli")
    assert count(any_sessions) == 3


def test_bad_periods(sessions):
    with transaction(sessions) as s:
        for start, end, message in (
            (T, T, "end after it starts"),
            (T, T - H, "end after it starts"),
            (T.replace(tzinfo=None), T + H, "needs a zone"),
        ):
            with pytest.raises(InvalidInput, match=message):
                shifts.add(s, "110001", start, end, created_by="x", source="cli")
        with pytest.raises(InvalidInput, match="empty"):
            shifts.add(s, "  ", T, T + H, created_by="x", source="cli")
        with pytest.raises(InvalidInput, match="source"):
            shifts.add(s, "1", T, T + H, created_by="x", source="fax")


def test_who_may_add(any_sessions):
    with transaction(any_sessions) as s:
        users.add_user(s, "off1", ["officer"], "U1", "110001")
        devices.assign(s, "ZFY0002", "220002", T - 100 * H, "U2")  # 220002 has no account: U2 by its recorder
    cases = [
        ({Role.SUPERVISOR}, "U1", "110001", True),
        ({Role.SUPERVISOR}, "U2", "110001", False),
        ({Role.SUPERVISOR}, "U2", "220002", True),
        ({Role.SUPERVISOR}, "U1", "999999", False),  # unknown to the unit
        ({Role.ADMIN}, "U9", "999999", True),
        ({Role.OFFICER}, "U1", "110001", False),
        ({Role.AUDITOR}, "U1", "110001", False),
        ({Role.REVIEWER}, "U1", "110001", False),
    ]
    for k, (roles, unit, officer, allowed) in enumerate(cases):
        start = T + k * 10 * H
        with transaction(any_sessions) as s:
            if allowed:
                shifts.add(s, officer, start, start + H, created_by="x", source="api", who=principal(roles, unit))
            else:
                with pytest.raises(Refused):
                    shifts.add(s, officer, start, start + H, created_by="x", source="api", who=principal(roles, unit))


GOOD = """officer_id,from,to
110001,2026-11-20T08:00:00,2026-11-20T18:00:00
110001,2026-11-21T08:00:00+08:00,2026-11-21T18:00:00+08:00

110002,2026-11-20T00:00:00Z,2026-11-20T10:00:00Z
"""


def test_import_a_good_file(any_sessions):
    with transaction(any_sessions) as s:
        added = shifts.import_csv(s, "\ufeff" + GOOD, SHANGHAI, created_by="station operator")
        assert [shifts.shift_view(r)["from"] for r in added] == [
            "2026-11-20T00:00:00Z",  # station-local 08:00 in Shanghai
            "2026-11-21T00:00:00Z",
            "2026-11-20T00:00:00Z",
        ]
        assert {r.source for r in added} == {"import"} and {r.created_by for r in added} == {"station operator"}
    with transaction(any_sessions) as s:
        listed = shifts.list_shifts(s, officer_id="110001")
        assert [r.ends_at for r in listed] == [T + 10 * H, T + 34 * H]
        assert len(shifts.list_shifts(s, since=T + 11 * H)) == 1
        assert len(shifts.list_shifts(s, until=T + H)) == 2


def test_import_is_all_or_nothing_with_line_numbers(any_sessions):
    with transaction(any_sessions) as s:
        shifts.add(s, "110003", T, T + 8 * H, created_by="x", source="cli")
    bad = """officer_id,from,to
110001,2026-11-20T08:00:00,2026-11-20T18:00:00
110001,yesterday,2026-11-20T18:00:00
110001,2026-11-20T17:00:00,2026-11-20T20:00:00
110002,2026-11-20T18:00:00,2026-11-20T08:00:00
110002,2026-11-20T18:00:00
110003,2026-11-20T04:00:00Z,2026-11-20T12:00:00Z
,2026-11-20T04:00:00Z,2026-11-20T12:00:00Z
"""
    with pytest.raises(InvalidInput) as caught, transaction(any_sessions) as s:
        shifts.import_csv(s, bad, SHANGHAI, created_by="x")
    lines = str(caught.value).splitlines()
    assert lines[0] == "nothing imported: 6 problem(s) in the file"
    assert [line.split(":", 1)[0] for line in lines[1:]] == ["line 3", "line 4", "line 5", "line 6", "line 7", "line 8"]
    assert "not an ISO 8601 time" in lines[1] and "(in the file)" in lines[2]
    assert "to > from" in lines[3] and "expected 3 fields" in lines[4]
    assert "overlaps the shift 2026-11-20T00:00:00Z" in lines[5] and "empty" in lines[6]
    assert count(any_sessions) == 1


def test_import_refuses_a_wrong_header_an_empty_file_and_others_units(sessions):
    with transaction(sessions) as s:
        with pytest.raises(InvalidInput, match="line 1: the header must be officer_id,from,to"):
            shifts.import_csv(s, "officer,start,end\n1,2,3\n", SHANGHAI, created_by="x")
        with pytest.raises(InvalidInput, match="no shifts"):
            shifts.import_csv(s, "officer_id,from,to\n", SHANGHAI, created_by="x")
        users.add_user(s, "off2", ["officer"], "U2", "220002")
    with pytest.raises(InvalidInput, match="line 2: that officer is not of your unit"), transaction(sessions) as s:
        shifts.import_csv(
            s, GOOD.replace("110001", "220002"), SHANGHAI, created_by="x", who=principal({Role.SUPERVISOR})
        )
    assert count(sessions) == 0


def test_who_may_list(any_sessions):
    with transaction(any_sessions) as s:
        users.add_user(s, "off1", ["officer"], "U1", "110001")
        devices.assign(s, "ZFY0002", "220002", T - 100 * H, "U2")
        shifts.import_csv(s, GOOD.replace("110002", "220002"), SHANGHAI, created_by="x")

    def listed(who):
        with transaction(any_sessions) as s:
            return sorted({r.officer_id for r in shifts.list_shifts(s, who=who)})

    assert listed(principal({Role.AUDITOR})) == ["110001", "220002"]
    assert listed(principal({Role.ADMIN}, "U7")) == ["110001", "220002"]
    assert listed(principal({Role.SUPERVISOR}, "U1")) == ["110001"]
    assert listed(principal({Role.SUPERVISOR}, "U2")) == ["220002"]
    assert listed(principal({Role.OFFICER}, "U2", "110001")) == ["110001"]
    with pytest.raises(Refused):
        listed(principal({Role.REVIEWER}))
