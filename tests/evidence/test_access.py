"""The access decisions that name no item or case: uploads (and the recorder named), opening cases,
searching custody events, managing users and recorders."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from evidence import access
from evidence.models import DeviceAssignment
from evidence.users import Principal, Role


def person(*roles: str, unit: str = "U1", officer: str | None = None) -> Principal:
    return Principal(1, "p", unit, frozenset(Role(r) for r in roles), officer)


HELD = DeviceAssignment(serial="ZFY0001", officer_id="110001", unit="U1", since=datetime(2026, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize(
    "who, device, holder, allowed",
    [
        (person("officer", officer="110001"), "ZFY0001", HELD, True),  # their own recorder
        (person("officer", officer="110002"), "ZFY0001", HELD, False),  # a colleague's, same unit
        (person("officer", unit="U2", officer="220002"), "ZFY0001", HELD, False),
        (person("supervisor"), "ZFY0001", HELD, True),  # a supervisor of the recorder's unit
        (person("supervisor", unit="U2"), "ZFY0001", HELD, False),
        (person("reviewer"), "ZFY0001", HELD, False),
        (person("officer", officer="110002"), "ZFY9999", None, True),  # nobody holds it: nothing to usurp
        (person("officer", officer="110002"), None, None, True),
        (person("auditor"), None, None, False),
        (person("admin"), None, None, False),
    ],
)
def test_upload_decisions(who, device, holder, allowed):
    decision = access.decide_upload(who, device, holder)
    assert decision.allowed is allowed and not decision.hide and decision.reason
    if not allowed and device:
        assert device in decision.reason


def test_custody_search_and_case_opening():
    assert [
        access.decide_custody_search(person(r)).allowed
        for r in ("auditor", "supervisor", "reviewer", "officer", "admin")
    ] == [True, True, False, False, False]
    assert [
        access.decide_open_case(person(r)).allowed for r in ("reviewer", "supervisor", "officer", "auditor", "admin")
    ] == [True, True, False, False, False]
    assert access.decide_request_status(person("officer"), "someone else", "upload").hide


def test_only_administrators_manage_users_and_recorders():
    everyone = ("officer", "reviewer", "supervisor", "auditor", "admin")
    assert [access.decide_manage_users(person(r)).allowed for r in everyone] == [False, False, False, False, True]
    assert [access.decide_devices(person(r)).allowed for r in everyone] == [False, False, False, False, True]
    assert access.decide_manage_users(person("auditor", "admin")).allowed  # a second role adds, never takes away
