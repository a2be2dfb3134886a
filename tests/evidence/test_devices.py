from datetime import UTC, datetime

import pytest

from evidence import devices
from evidence.errors import InvalidInput
from evidence.unit_of_work import transaction


def t(day, hour=0):
    return datetime(2026, 11, day, hour, tzinfo=UTC)


def test_time_ranged_registry(sessions):
    with transaction(sessions) as s:
        devices.assign(s, "ZFY0001", "110001", t(1))
        devices.assign(s, "ZFY0001", "110002", t(10))
    with transaction(sessions) as s:
        assert devices.assignment_at(s, "ZFY0001", t(1)).officer_id == "110001"
        assert devices.assignment_at(s, "ZFY0001", t(9, 23)).officer_id == "110001"
        assert devices.assignment_at(s, "ZFY0001", t(10)).officer_id == "110002"
        assert devices.assignment_at(s, "ZFY0001", datetime(2026, 10, 1, tzinfo=UTC)) is None
        assert devices.assignment_at(s, "ZFY0009", t(5)) is None
        first, second = devices.assignments(s, "ZFY0001")
        assert first.until == t(10) and second.until is None


def test_out_of_order_and_empty_assignments_are_refused(sessions):
    with transaction(sessions) as s:
        devices.assign(s, "ZFY0001", "110001", t(10))
    with pytest.raises(InvalidInput), transaction(sessions) as s:
        devices.assign(s, "ZFY0001", "110002", t(5))
    with pytest.raises(InvalidInput), transaction(sessions) as s:
        devices.assign(s, " ", "110002", t(12))
