"""The deadline report's rollup gives exactly the row-by-row report, on SQLite and PostgreSQL:
after a rebuild, after ingest-style and attribution changes kept in the same transaction, for every
grouping, every reader's scope, excuses (item, window, revoked) and local days across midnight."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, select, update

from evidence import attribution, deadline_report, devices, excuses, report_rollup
from evidence.deadline_report import GroupBy
from evidence.models import Item, ReportRollupState
from evidence.unit_of_work import transaction
from tests.evidence.reporting import recording, utc
from tests.evidence.test_deadline_report import AUDITOR, SHANGHAI, SUP1, SUP2

PERIODS = [
    (date(2026, 11, 1), date(2026, 11, 30)),
    (date(2026, 11, 3), date(2026, 11, 4)),
    (date(2026, 1, 1), date(2026, 12, 31)),
]


def craft(s):
    """Recordings of every kind, some ending either side of Shanghai's midnight (16:00 UTC)."""
    made = []
    for n in range(40):
        end = utc(2026, 11, 1, 15, 30) + timedelta(hours=7 * n, minutes=n)
        officer, unit, device = [("110001", "U1", "ZFY0001"), ("110002", "U1", "ZFY0002"), ("220002", "U2", "ZFY0003")][
            n % 3
        ]
        late_s = [-3600, 0, 1, 3600, 86400, 7 * n + 0.5, 100 * n][n % 7]
        kind = n % 11
        if kind == 3:
            made.append(recording(s, end, late_s, officer=officer, unit=unit, device=device, time_source="file_mtime"))
        elif kind == 5:
            made.append(recording(s, end, received_at=end - timedelta(minutes=5), officer=officer, unit=unit))
        elif kind == 7:
            made.append(recording(s, end, late_s, officer=None, unit=None, device=None, station="ST02"))
        else:
            made.append(recording(s, end, late_s, officer=officer, unit=unit, device=device, station=f"ST0{n % 2}"))
    recording(s, utc(2026, 11, 9), late_s=99, derived_from=made[0].id)  # a clip: never counted
    return made


def reports(session, who, zone=SHANGHAI):
    return [deadline_report.report(session, who, *period, group_by=g, zone=zone) for period in PERIODS for g in GroupBy]


def rows_and_rollup(session, who):
    """(the report from the rows, the report from the rollup), in one transaction."""
    assert report_rollup.built_zone(session) == "Asia/Shanghai"
    with_rollup = reports(session, who)
    session.execute(update(ReportRollupState).values(zone=None))
    from_rows = reports(session, who)
    session.execute(update(ReportRollupState).values(zone="Asia/Shanghai"))
    return from_rows, with_rollup


def excuse_some(s, made):
    late = [i for i in made if i.on_time is False and i.unit == "U1" and i.time_source != "file_mtime"]
    excuses.excuse_item(s, SUP1, late[0].id, reason="battery died", agent="t")
    excuses.excuse_window(
        s,
        SUP1,
        officer_id=late[1].officer_id,
        start=late[1].recorded_end,
        end=late[1].recorded_end + timedelta(hours=1),
        reason="flood",
        agent="t",
    )
    gone = excuses.excuse_item(s, SUP1, late[2].id, reason="mistaken", agent="t")
    excuses.revoke(s, SUP1, gone.id, reason="not so", agent="t")


def test_the_rollup_report_equals_the_row_report(any_sessions):
    with transaction(any_sessions) as s:
        made = craft(s)
        excuse_some(s, made)
    with transaction(any_sessions) as s:
        assert report_rollup.rebuild(s, SHANGHAI) == 40
    with transaction(any_sessions) as s:
        excused = 0
        for who in (None, AUDITOR, SUP1, SUP2):
            from_rows, with_rollup = rows_and_rollup(s, who)
            assert with_rollup == from_rows
            excused += sum(g["excused"] for r in from_rows for g in r["groups"])
        assert excused > 0


def test_changes_are_kept_in_the_same_transaction(any_sessions):
    """Ingest's assessment and attribution after the fact move an item's contribution."""
    with transaction(any_sessions) as s:
        craft(s)
        report_rollup.rebuild(s, SHANGHAI)
    with transaction(any_sessions) as s:
        devices.assign(s, "ZFY0009", "330003", since=utc(2026, 1, 1), unit="U3")
        unattributed = s.scalars(select(Item).where(Item.device_serial.is_(None)).order_by(Item.id)).first()
        # ingest-style: a new recording judged in the transaction that stores it
        new = recording(s, utc(2026, 11, 20, 16, 30), 500, officer="110001", unit="U1", device="ZFY0001", counted=False)
        report_rollup.update(s, None, new)
        # a re-judged one: its times move to another day and it becomes on time
        moved = s.scalars(select(Item).where(Item.on_time.is_(False), Item.officer_id == "110002")).first()
        before = report_rollup.contribution(s, moved)
        moved.recorded_end, moved.on_time, moved.late_by_s = moved.recorded_end + timedelta(days=2), True, None
        moved.received_at = moved.recorded_end + timedelta(hours=1)
        report_rollup.update(s, before, moved)
        s.flush()
        assert unattributed is not None
        plan = attribution.prepare(s, unattributed.id, "ZFY0009")
        attribution.apply(s, plan, by="aud", reason="found in the wrong folder", agent="t", deadline_hours=24)
        assert unattributed.officer_id == "330003"
        from_rows, with_rollup = rows_and_rollup(s, AUDITOR)
        assert with_rollup == from_rows


def test_another_zone_reads_the_rows(any_sessions):
    with transaction(any_sessions) as s:
        craft(s)
        report_rollup.rebuild(s, ZoneInfo("UTC"))
    with transaction(any_sessions) as s:
        assert report_rollup.built_zone(s) == "UTC"
        seen = []
        engine = s.get_bind()

        def note(conn, cursor, statement, parameters, context, executemany):
            seen.append(statement)

        event.listen(engine, "before_cursor_execute", note)
        try:
            shanghai = deadline_report.report(s, None, *PERIODS[0], group_by=GroupBy.DAY, zone=SHANGHAI)
        finally:
            event.remove(engine, "before_cursor_execute", note)
        assert not any("report_rollup " in st and "sum(" in st for st in seen)
        utc_days = deadline_report.report(s, None, *PERIODS[0], group_by=GroupBy.DAY, zone=ZoneInfo("UTC"))
    assert [g["key"] for g in shanghai["groups"]] != [g["key"] for g in utc_days["groups"]] or shanghai != utc_days
    assert sum(g["recordings"] for g in shanghai["groups"]) > 0


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "America/New_York"])
def test_rebuild_is_idempotent(sessions, zone):
    with transaction(sessions) as s:
        craft(s)
        report_rollup.rebuild(s, ZoneInfo(zone))
    with transaction(sessions) as s:
        first = deadline_report.report(s, None, *PERIODS[2], group_by=GroupBy.DAY, zone=ZoneInfo(zone))
        report_rollup.rebuild(s, ZoneInfo(zone))
        assert deadline_report.report(s, None, *PERIODS[2], group_by=GroupBy.DAY, zone=ZoneInfo(zone)) == first


def test_roles_starting_together_on_a_new_database_build_the_rollup_once(pg_url):
    """Stations, workers and API processes started at once each open the database: each finds no state
    row; all but one once died on its duplicate key (a worker exited 1 at start, issue 13 §5)."""
    import threading
    import time

    from evidence import unit_of_work
    from evidence.adapters.database import make_engine, make_sessionmaker

    engine = make_engine(pg_url)
    sessions = make_sessionmaker(engine)
    errors: list[BaseException] = []
    try:
        # one role has inserted the row and not committed yet when another looks for it
        with transaction(sessions) as first:
            report_rollup.prepare(first)
            second = threading.Thread(
                target=lambda: _catching(errors, lambda: unit_of_work.run(sessions, report_rollup.prepare))
            )
            second.start()
            time.sleep(0.5)  # it waits for the first's row
        second.join(30)
        assert errors == []
        with transaction(sessions) as s:
            assert s.scalars(select(ReportRollupState)).all()[0].zone is None

        # then both build: one counts, the other finds it built once it has the lock
        barrier = threading.Barrier(3)
        built: list[int | None] = []

        def build() -> None:
            barrier.wait()
            built.append(report_rollup.ensure_built(sessions, SHANGHAI))

        threads = [threading.Thread(target=_catching, args=(errors, build)) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert errors == []
        assert sorted(built, key=lambda n: n is None) == [0, None, None]
        with transaction(sessions) as s:
            assert report_rollup.built_zone(s) == "Asia/Shanghai"
    finally:
        engine.dispose()


def _catching(errors: list[BaseException], work) -> None:
    try:
        work()
    except BaseException as exc:  # noqa: BLE001 - the test asserts on it
        errors.append(exc)
