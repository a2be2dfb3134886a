"""Excused lateness in the domain, on crafted recordings with known answers, on SQLite and PostgreSQL:
which excuse applies (an item's; a window's by officer or recorder, [from, to)), revoking, who may,
and who sees the list."""

from __future__ import annotations

import json
from datetime import UTC, date, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from evidence import deadline_report, devices, excuses, report_rollup
from evidence.access import Refused
from evidence.custody import EventKind
from evidence.deadline_report import GroupBy
from evidence.errors import Conflict, InvalidInput, NotFound
from evidence.models import CustodyEvent, Excuse
from evidence.unit_of_work import transaction
from evidence.users import Principal, Role
from tests.evidence.reporting import recording, utc

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOV = (date(2026, 11, 1), date(2026, 11, 30))
AUDITOR = Principal(90, "aud", "U9", frozenset({Role.AUDITOR}), None)
SUP1 = Principal(91, "sup1", "U1", frozenset({Role.SUPERVISOR}), None)
SUP2 = Principal(92, "sup2", "U2", frozenset({Role.SUPERVISOR}), None)
REV1 = Principal(93, "rev1", "U1", frozenset({Role.REVIEWER}), None)
OFF1 = Principal(94, "off1", "U1", frozenset({Role.OFFICER}), "110001")
AGENT = "test"
U2 = {"officer": "220002", "unit": "U2", "device": "ZFY0002"}


@pytest.fixture
def db(any_sessions):
    """SQLite, then PostgreSQL, with the report rollup built for the station's zone (as the runtime
    builds it at the first opening), so that reports in UTC take the rows' path."""
    report_rollup.ensure_built(any_sessions, SHANGHAI)
    with transaction(any_sessions) as s:
        assert report_rollup.built_zone(s) == "Asia/Shanghai"
    return any_sessions


def late_items(sessions, zone=SHANGHAI):
    """The report's late rows by id (the rollup's path in the station's zone, the rows' path in UTC)."""
    with transaction(sessions) as s:
        result = deadline_report.report(s, AUDITOR, *NOV, group_by=GroupBy.UNIT, zone=zone)
    return {i["id"]: i for i in result["late_items"]}, {g["key"]: g for g in result["groups"]}


def excused(sessions) -> set[int]:
    """The ids the report shows as excused; the same on both of its paths (Python and SQL)."""
    items, groups = late_items(sessions)
    in_utc, utc_groups = late_items(sessions, zone=UTC)
    assert {k: g["excused"] for k, g in groups.items()} == {k: g["excused"] for k, g in utc_groups.items()}
    ids = {i for i, row in items.items() if row["excused"]}
    assert ids == {i for i, row in in_utc.items() if row["excused"]}
    assert sum(g["excused"] for g in groups.values()) == len(ids)
    return ids


def events(sessions, kind: EventKind) -> list[CustodyEvent]:
    with transaction(sessions) as s:
        return list(s.scalars(select(CustodyEvent).where(CustodyEvent.kind == kind.value).order_by(CustodyEvent.seq)))


def test_an_item_excuse_applies_to_a_late_item_only_once(db):
    with transaction(db) as s:
        late = recording(s, utc(2026, 11, 2), late_s=600).id
        at_deadline = recording(s, utc(2026, 11, 3), late_s=0).id
        unjudged = recording(s, utc(2026, 11, 4), late_s=900, officer=None, unit="U1", device=None).id
    with transaction(db) as s:
        excuse = excuses.excuse_item(s, SUP1, late, reason="  recorder battery died ", agent=AGENT)
        assert (excuse.item_id, excuse.reason, excuse.approved_by) == (late, "recorder battery died", "sup1")
        assert excuse.officer_id is None and excuse.window_from is None and excuse.revoked_at is None
    assert excused(db) == {late}
    items, _ = late_items(db)
    assert (items[late]["excuse_reason"], items[late]["excused_by"]) == ("recorder battery died", "sup1")

    with transaction(db) as s, pytest.raises(Conflict, match="on time"):
        excuses.excuse_item(s, SUP1, at_deadline, reason="nothing to excuse", agent=AGENT)
    with transaction(db) as s, pytest.raises(Conflict, match=f"already excused \\(excuse {excuse.id}\\)"):
        excuses.excuse_item(s, SUP1, late, reason="once more", agent=AGENT)
    with transaction(db) as s, pytest.raises(Conflict, match="not judged"):
        excuses.excuse_item(s, SUP1, unjudged, reason="whose is it", agent=AGENT)
    with transaction(db) as s, pytest.raises(InvalidInput, match="at least 3"):
        excuses.excuse_item(s, SUP1, late, reason=" x ", agent=AGENT)
    with transaction(db) as s, pytest.raises(NotFound):
        excuses.excuse_item(s, SUP1, 999999, reason="none such", agent=AGENT)
    [event] = events(db, EventKind.LATENESS_EXCUSED)  # refusals wrote nothing
    assert event.item_id == late and event.agent == AGENT
    assert json.loads(event.details) == {
        "excuse_id": excuse.id,
        "by": "sup1",
        "reason": "recorder battery died",
        "late_by_s": 600.0,
    }
    with transaction(db) as s:
        assert s.scalar(select(Excuse.id).where(Excuse.item_id == late)) == excuse.id  # one row


@pytest.mark.parametrize("named", ["officer_id", "device_serial"])
def test_a_window_covers_late_recordings_ending_from_its_start_to_before_its_end(db, named):
    start, end = utc(2026, 11, 10), utc(2026, 11, 12)
    second = timedelta(seconds=1)
    with transaction(db) as s:
        before = recording(s, start - second, late_s=100).id
        at_start = recording(s, start, late_s=200).id
        inside = recording(s, utc(2026, 11, 11), late_s=300).id
        last = recording(s, end - second, late_s=400).id
        at_end = recording(s, end, late_s=500).id
        on_time = recording(s, utc(2026, 11, 11, 1), late_s=-5).id
        # the officer with another recorder; another officer with this recorder
        other_device = recording(s, utc(2026, 11, 11, 2), late_s=600, device="ZFY0003").id
        other_officer = recording(s, utc(2026, 11, 11, 3), late_s=700, officer="110009").id
    name = {"officer_id": "110001"} if named == "officer_id" else {"device_serial": "ZFY0001"}
    covers = other_device if named == "officer_id" else other_officer
    with transaction(db) as s:
        excuse, now = excuses.excuse_window(
            s, SUP1, **name, start=start.astimezone(SHANGHAI), end=end, reason="typhoon", agent=AGENT
        )
        assert (excuse.window_from, excuse.window_to, excuse.item_id) == (start, end, None)
        assert getattr(excuse, named) == name[named]
    assert now == sorted([at_start, inside, last, covers])
    assert on_time not in now and before not in now and at_end not in now
    assert excused(db) == set(now)
    items, _ = late_items(db)
    assert {items[i]["excuse_reason"] for i in now} == {"typhoon"}

    # a recording arriving later into the window is covered too; one ending at its end is not
    with transaction(db) as s:
        later = recording(s, utc(2026, 11, 11, 12), late_s=3 * 86400).id
        later_at_end = recording(s, end, late_s=3 * 86400).id
    assert excused(db) == {*now, later}
    assert later_at_end in late_items(db)[0]

    [event] = events(db, EventKind.LATENESS_EXCUSED)
    assert event.item_id is None
    assert json.loads(event.details) == {
        "excuse_id": excuse.id,
        **name,
        "from": "2026-11-10T00:00:00Z",
        "to": "2026-11-12T00:00:00Z",
        "by": "sup1",
        "reason": "typhoon",
        "late_items_now": now,
    }


def test_window_excuses_refuse_bad_input(db):
    with transaction(db) as s:
        recording(s, utc(2026, 11, 2), late_s=60)
    start, end = utc(2026, 11, 1), utc(2026, 11, 3)
    cases = [
        ({"officer_id": "110001", "device_serial": "ZFY0001"}, start, end, "not both"),
        ({}, start, end, "not both"),
        ({"officer_id": "  "}, start, end, "must not be empty"),
        ({"officer_id": "110001"}, end, start, "before to"),
        ({"officer_id": "110001"}, start, start, "before to"),
        ({"officer_id": "110001"}, start.replace(tzinfo=None), end, "needs a zone"),
        ({"officer_id": "999999"}, start, end, "no officer '999999'"),
        ({"device_serial": "NOPE"}, start, end, "no device 'NOPE'"),
    ]
    for name, lo, hi, message in cases:
        with transaction(db) as s, pytest.raises(InvalidInput, match=message):
            excuses.excuse_window(s, SUP1, **name, start=lo, end=hi, reason="flood", agent=AGENT)
    assert events(db, EventKind.LATENESS_EXCUSED) == []


def test_revoking_makes_the_item_late_again_and_edits_only_the_revoked_fields(db):
    with transaction(db) as s:
        late = recording(s, utc(2026, 11, 2), late_s=600).id
        in_window = recording(s, utc(2026, 11, 20), late_s=60).id
    with transaction(db) as s:
        item_excuse = excuses.excuse_item(s, SUP1, late, reason="battery", agent=AGENT).id
        window_excuse = excuses.excuse_window(
            s, SUP1, officer_id="110001", start=utc(2026, 11, 19), end=utc(2026, 11, 21), reason="flood", agent=AGENT
        )[0].id
    assert excused(db) == {late, in_window}
    columns = [c.key for c in Excuse.__table__.columns]
    with transaction(db) as s:
        before = {e.id: {c: getattr(e, c) for c in columns} for e in s.scalars(select(Excuse))}

    with transaction(db) as s:
        revoked = excuses.revoke(s, SUP1, item_excuse, reason=" not ill after all ", agent=AGENT)
        assert (revoked.revoked_by, revoked.revoke_reason) == ("sup1", "not ill after all")
    assert excused(db) == {in_window}
    items, groups = late_items(db)
    assert not items[late]["excused"] and items[late]["excuse_reason"] is None
    assert (groups["U1"]["late"], groups["U1"]["excused"], groups["U1"]["max_late_s"]) == (1, 1, 600.0)
    with transaction(db) as s:
        excuses.revoke(s, SUP1, window_excuse, reason="the roads were open", agent=AGENT)
    assert excused(db) == set()

    with transaction(db) as s:
        after = {e.id: {c: getattr(e, c) for c in columns} for e in s.scalars(select(Excuse))}
    revoked_fields = {"revoked_at", "revoked_by", "revoke_reason"}
    for excuse_id, row in after.items():
        assert {c: v for c, v in row.items() if c not in revoked_fields} == {
            c: v for c, v in before[excuse_id].items() if c not in revoked_fields
        }
        assert before[excuse_id]["revoked_at"] is None and row["revoked_at"] is not None
    assert after[window_excuse]["revoke_reason"] == "the roads were open"

    item_event, window_event = events(db, EventKind.EXCUSE_REVOKED)
    assert item_event.item_id == late and window_event.item_id is None
    assert json.loads(item_event.details) == {"excuse_id": item_excuse, "by": "sup1", "reason": "not ill after all"}
    assert json.loads(window_event.details)["excuse_id"] == window_excuse

    with transaction(db) as s, pytest.raises(Conflict, match="revoked already"):
        excuses.revoke(s, SUP1, item_excuse, reason="again", agent=AGENT)
    with transaction(db) as s, pytest.raises(NotFound):
        excuses.revoke(s, SUP1, 999999, reason="none such", agent=AGENT)
    with transaction(db) as s, pytest.raises(InvalidInput):
        excuses.revoke(s, SUP1, window_excuse, reason="", agent=AGENT)
    # a revoked excuse no longer blocks a new one
    with transaction(db) as s:
        again = excuses.excuse_item(s, SUP1, late, reason="battery after all", agent=AGENT)
    assert again.id not in (item_excuse, window_excuse) and excused(db) == {late}


def test_the_oldest_applicable_excuse_is_shown(db):
    with transaction(db) as s:
        late = recording(s, utc(2026, 11, 2), late_s=600).id
    window = {"start": utc(2026, 11, 1), "end": utc(2026, 11, 3), "agent": AGENT}
    with transaction(db) as s:
        first = excuses.excuse_window(s, SUP1, device_serial="ZFY0001", reason="dock broken", **window)[0].id
        excuses.excuse_window(s, SUP1, officer_id="110001", reason="flood", **window)
    assert late_items(db)[0][late]["excuse_reason"] == "dock broken"
    with transaction(db) as s, pytest.raises(Conflict, match=f"already excused \\(excuse {first}\\)"):
        excuses.excuse_item(s, SUP1, late, reason="battery", agent=AGENT)
    with transaction(db) as s:
        excuses.revoke(s, SUP1, first, reason="it worked", agent=AGENT)
    assert late_items(db)[0][late]["excuse_reason"] == "flood"


def test_only_a_supervisor_of_the_unit_may_excuse_or_revoke(db):
    with transaction(db) as s:
        late = recording(s, utc(2026, 11, 2), late_s=600).id
        late2 = recording(s, utc(2026, 11, 2), late_s=600, **U2).id
    window = {"officer_id": "110001", "start": utc(2026, 11, 1), "end": utc(2026, 11, 3), "agent": AGENT}
    # another unit's supervisor: the item is hidden (404), the window refused (403)
    with transaction(db) as s, pytest.raises(Refused) as hidden:
        excuses.excuse_item(s, SUP2, late, reason="not mine", agent=AGENT)
    assert hidden.value.decision.hide and hidden.value.action == "view_metadata"
    with transaction(db) as s, pytest.raises(Refused, match=r"not your unit's \(U2\) but U1's") as refused:
        excuses.excuse_window(s, SUP2, reason="not mine", **window)
    assert not refused.value.decision.hide and refused.value.details == {"officer_id": "110001"}
    # those who see the item but do not supervise: refused (403), the refusal names the item
    for who in (OFF1, REV1, AUDITOR):
        with transaction(db) as s, pytest.raises(Refused, match="only a supervisor") as refused:
            excuses.excuse_item(s, who, late, reason="not a supervisor", agent=AGENT)
        assert (refused.value.action, refused.value.item_id, refused.value.decision.hide) == ("excuse", late, False)
        with transaction(db) as s, pytest.raises(Refused, match="only a supervisor"):
            excuses.excuse_window(s, who, reason="not a supervisor", **window)
    assert events(db, EventKind.LATENESS_EXCUSED) == []

    with transaction(db) as s:
        item_excuse = excuses.excuse_item(s, SUP1, late, reason="battery", agent=AGENT).id
        window_excuse = excuses.excuse_window(s, SUP1, reason="flood", **window)[0].id
        excuses.excuse_item(s, SUP2, late2, reason="theirs", agent=AGENT)
    with transaction(db) as s, pytest.raises(Refused) as hidden:
        excuses.revoke(s, SUP2, item_excuse, reason="not mine", agent=AGENT)
    assert hidden.value.decision.hide
    with transaction(db) as s, pytest.raises(Refused) as refused:
        excuses.revoke(s, SUP2, window_excuse, reason="not mine", agent=AGENT)
    assert refused.value.action == "revoke_excuse" and not refused.value.decision.hide
    for who in (OFF1, REV1, AUDITOR):
        for excuse_id in (item_excuse, window_excuse):
            with transaction(db) as s, pytest.raises(Refused, match="only a supervisor"):
                excuses.revoke(s, who, excuse_id, reason="not a supervisor", agent=AGENT)
    assert events(db, EventKind.EXCUSE_REVOKED) == []
    assert excused(db) == {late, late2}


def test_a_window_over_recordings_of_two_units_is_no_single_supervisors(db):
    with transaction(db) as s:
        recording(s, utc(2026, 11, 2), late_s=600)
        recording(s, utc(2026, 11, 4), late_s=600, unit="U2")  # the officer moved to U2
    window = {"officer_id": "110001", "reason": "flood", "agent": AGENT}
    for who in (SUP1, SUP2):
        with transaction(db) as s, pytest.raises(Refused, match="but U1, U2's"):
            excuses.excuse_window(s, who, start=utc(2026, 11, 1), end=utc(2026, 11, 5), **window)
    with transaction(db) as s:
        assert excuses.excuse_window(s, SUP2, start=utc(2026, 11, 3), end=utc(2026, 11, 5), **window)[1]


def test_supervisors_list_their_units_excuses_auditors_all(db):
    with transaction(db) as s:
        # as ingest attributes recordings: through the recorders' assignments
        devices.assign(s, "ZFY0001", "110001", utc(2026, 1, 1), "U1")
        devices.assign(s, "ZFY0002", "220002", utc(2026, 1, 1), "U2")
        late = recording(s, utc(2026, 11, 2), late_s=600).id
        late2 = recording(s, utc(2026, 11, 2), late_s=600, **U2).id
    window = {"start": utc(2026, 11, 1), "end": utc(2026, 11, 3), "agent": AGENT}
    with transaction(db) as s:
        ids = [
            excuses.excuse_item(s, SUP1, late, reason="battery", agent=AGENT).id,
            excuses.excuse_window(s, SUP1, officer_id="110001", reason="flood", **window)[0].id,
            excuses.excuse_window(s, SUP1, device_serial="ZFY0001", reason="dock", **window)[0].id,
            excuses.excuse_item(s, SUP2, late2, reason="theirs", agent=AGENT).id,
            excuses.excuse_window(s, SUP2, officer_id="220002", reason="theirs too", **window)[0].id,
        ]
        excuses.revoke(s, SUP1, ids[1], reason="the roads were open", agent=AGENT)

    def listed(who, **filters):
        with transaction(db) as s:
            return [e.id for e in excuses.list_excuses(s, who, **filters)]

    assert listed(AUDITOR) == listed(None) == ids[::-1]
    assert listed(SUP1) == ids[2::-1]
    assert listed(SUP2) == ids[:2:-1]
    assert listed(SUP1, active=True) == [ids[2], ids[0]] and listed(SUP1, active=False) == [ids[1]]
    assert listed(AUDITOR, item_id=late2) == [ids[3]]
    assert listed(AUDITOR, officer_id="110001") == [ids[1]]
    assert listed(AUDITOR, device_serial="ZFY0001") == [ids[2]]
    for who in (OFF1, REV1):
        with pytest.raises(Refused, match="auditors and supervisors"):
            listed(who)
    with transaction(db) as s:
        view = excuses.excuse_view(s.get(Excuse, ids[1]))
    assert view["from"] == "2026-11-01T00:00:00Z" and view["to"] == "2026-11-03T00:00:00Z"
    assert (view["active"], view["revoked_by"], view["revoke_reason"]) == (False, "sup1", "the roads were open")
