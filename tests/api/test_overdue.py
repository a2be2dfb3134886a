"""GET /api/v1/reports/overdue: auditors see every unit, supervisors their unit's, others 403."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from evidence import devices, shifts
from evidence.unit_of_work import transaction
from tests.api.conftest import denials

COLUMNS = {"device_serial", "officer_id", "unit", "last_arrival_at", "since", "hours_overdue"}


@pytest.mark.parametrize("world", ["file", "pg"], indirect=True)
def test_overdue_report_by_role(world):
    c, rt = world["clients"], world["rt"]
    # the world's recorders docked moments ago; two more were handed out long ago and never docked
    since = datetime(2026, 1, 1, tzinfo=UTC)
    with transaction(rt.sessions) as session:
        devices.assign(session, "ZFY0009", "110009", since, "U1")
        devices.assign(session, "ZFY0008", "220008", since + timedelta(days=1), "U2")
    rows = c["aud"].get("/api/v1/reports/overdue").json()
    assert [r["device_serial"] for r in rows] == ["ZFY0009", "ZFY0008"]  # most overdue first
    assert set(rows[0]) == COLUMNS and rows[0]["last_arrival_at"] is None
    assert rows[0]["since"] == "2026-01-01T00:00:00Z" and rows[0]["unit"] == "U1"
    assert round(rows[0]["hours_overdue"] - rows[1]["hours_overdue"], 2) == 24.0
    assert [r["device_serial"] for r in c["sup1"].get("/api/v1/reports/overdue").json()] == ["ZFY0009"]
    for name in ("off1", "rev1", "adm"):
        assert c[name].get("/api/v1/reports/overdue").status_code == 403
    assert len(denials(rt, "overdue_report")) == 3

    # once 110009 has shift records, only time on duty counts: two hours is not overdue
    now = datetime.now(UTC)
    with transaction(rt.sessions) as session:
        shifts.add(session, "110009", now - timedelta(hours=3), now - timedelta(hours=1), created_by="t", source="cli")
    assert [r["device_serial"] for r in c["aud"].get("/api/v1/reports/overdue").json()] == ["ZFY0008"]
