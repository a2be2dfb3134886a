"""Ingest keeps the deadline report's rollup exact in the transaction that judges a recording."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, func, select, update

from evidence import deadline_report, devices, report_rollup
from evidence.deadline_report import GroupBy
from evidence.models import Item, ReportRollup, ReportRollupState, utcnow
from evidence.unit_of_work import transaction
from ingest import worker
from ingest.pipeline import ingest_file
from ingest.runtime import open_runtime
from tests.media import drop


def test_a_probed_recording_is_counted_in_the_rollup(make_settings, clips):
    rt = open_runtime(make_settings(), "test")
    try:
        zone = rt.settings.zone
        with transaction(rt.sessions) as s:
            devices.assign(s, "ZFY0001", "110001", since=utcnow() - timedelta(days=3650), unit="U1")
            # a new database: opening the runtime built the (empty) rollup for the station's zone
            assert report_rollup.built_zone(s) == report_rollup.zone_name(zone)
        point = rt.settings.points[0]
        item_id = ingest_file(rt, point, drop(clips["h264"], point.path, "ZFY0001/a.mp4")).item_id
        worker.drain(rt, item_ids=[item_id])
        with transaction(rt.sessions) as s:
            item = s.get(Item, item_id)
            assert item is not None and item.recorded_end is not None and item.officer_id == "110001"
            assert s.scalar(select(func.sum(ReportRollup.recordings)).where(ReportRollup.dim == "officer")) == 1
            day = item.recorded_end.astimezone(zone).date()
            for g in GroupBy:
                ours = deadline_report.report(s, None, day, day, group_by=g, zone=zone)
                s.execute(update(ReportRollupState).values(zone=None))
                rows = deadline_report.report(s, None, day, day, group_by=g, zone=zone)
                s.execute(update(ReportRollupState).values(zone=report_rollup.zone_name(zone)))
                assert ours == rows and ours["groups"][0]["recordings"] == 1
    finally:
        rt.close()


def test_opening_an_upgraded_database_counts_its_recordings_once(make_settings, clips):
    """A database with recordings but no rollup yet (as after the upgrade that adds it) is counted at
    the first opening; a rollup already built is left as it is."""
    settings = make_settings()
    rt = open_runtime(settings, "test")
    try:
        with transaction(rt.sessions) as s:
            devices.assign(s, "ZFY0001", "110001", since=utcnow() - timedelta(days=3650), unit="U1")
        point = rt.settings.points[0]
        item_id = ingest_file(rt, point, drop(clips["h264"], point.path, "ZFY0001/a.mp4")).item_id
        worker.drain(rt, item_ids=[item_id])
        with transaction(rt.sessions) as s:  # back to the state before the rollup existed
            s.execute(delete(ReportRollup))
            s.execute(delete(ReportRollupState))
    finally:
        rt.close()
    rt = open_runtime(settings, "test")
    try:
        with transaction(rt.sessions) as s:
            assert s.scalar(select(func.sum(ReportRollup.recordings)).where(ReportRollup.dim == "unit")) == 1
        assert report_rollup.ensure_built(rt.sessions, rt.settings.zone) is None
    finally:
        rt.close()
