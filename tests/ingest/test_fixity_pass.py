"""The daemon's rolling fixity pass: checks items over and over within the period, at the configured rate."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from evidence import custody
from evidence.models import Item
from evidence.unit_of_work import transaction
from ingest import fixity_pass
from ingest.pipeline import ingest_file
from ingest.runtime import open_runtime
from tests.evidence.test_fixity import flip_byte, tamper
from tests.media import drop

SECOND_IN_DAYS = 1 / 86400


@pytest.fixture
def runtime_with(make_settings):
    opened = []

    def make(**overrides):
        rt = open_runtime(make_settings(**overrides), "test")
        opened.append(rt)
        rt.settings.points[0].path.mkdir(parents=True, exist_ok=True)
        return rt

    yield make
    for rt in opened:
        rt.close()


def ingest_variants(rt, src, n: int, tmp_path) -> list[int]:
    ids = []
    for i in range(n):
        path = tmp_path / f"v{i}.mp4"
        path.write_bytes(src.read_bytes() + f"variant {i}".encode())
        ids.append(
            ingest_file(rt, rt.settings.points[0], drop(path, rt.settings.points[0].path, f"ZFY0001/{i}.mp4")).item_id
        )
    return ids


def run_for(rt, seconds: float, report: fixity_pass.PassReport) -> float:
    stop = threading.Event()
    thread = threading.Thread(target=fixity_pass.run, args=(rt, stop, report), kwargs={"first_s": 0})
    started = time.monotonic()
    thread.start()
    time.sleep(seconds)
    stop.set()
    thread.join(timeout=30)
    assert not thread.is_alive()
    return time.monotonic() - started


def checks(rt, item_id: int) -> list:
    with transaction(rt.sessions) as session:
        return [e for e in custody.log_for(session, item_id) if e.kind.startswith("fixity_")]


def test_every_item_is_checked_again_within_the_period(runtime_with, clips, tmp_path):
    rt = runtime_with(fixity_period_days=2 * SECOND_IN_DAYS, fixity_mbps=1000)  # due again after 1.8 s
    ids = ingest_variants(rt, clips["h264"], 3, tmp_path)
    report = fixity_pass.PassReport()
    run_for(rt, 5.0, report)
    for item_id in ids:
        found = checks(rt, item_id)
        assert 2 <= len(found) <= 4 and {e.kind for e in found} == {"fixity_checked"}
        times = [e.occurred_at for e in found]
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert all(timedelta(seconds=1.7) <= g <= timedelta(seconds=2.6) for g in gaps), gaps  # within the period
        with transaction(rt.sessions) as session:
            assert session.get_one(Item, item_id).fixity_checked_at == times[-1]
    assert report.checked == sum(len(checks(rt, i)) for i in ids) and report.failed == 0
    assert report.keeps_up is True and report.as_dict()["last_check_at"].endswith("Z")


def test_the_pass_keeps_to_its_rate_and_raises_an_alarm(runtime_with, clips, tmp_path, caplog):
    size = clips["h264"].stat().st_size
    mbps = size * 2 / 3 / 1e6  # two items take at least three seconds
    rt = runtime_with(fixity_period_days=30, fixity_mbps=mbps)
    ids = ingest_variants(rt, clips["h264"], 2, tmp_path)
    with transaction(rt.sessions) as session:
        key = session.get_one(Item, ids[1]).object_key
    tamper(rt, key, flip_byte)
    report = fixity_pass.PassReport()
    with caplog.at_level(logging.ERROR, logger="ingest.fixity_pass"):
        run_for(rt, 4.0, report)
    first, second = checks(rt, ids[0]), checks(rt, ids[1])
    assert [e.kind for e in first] == ["fixity_checked"] and [e.kind for e in second] == ["fixity_failed"]
    took = (second[0].occurred_at - first[0].recorded_at).total_seconds()
    assert took >= 1.4, f"the second item's read must wait for the rate ({took:.2f}s)"
    assert report.checked == 2 and report.failed == 1 and report.alarms == [ids[1]]
    assert f"FIXITY ALARM: item {ids[1]}" in caplog.text


def test_a_stop_abandons_a_slow_read_without_recording_it(runtime_with, clips, tmp_path):
    rt = runtime_with(fixity_mbps=0.001)  # a clip would take minutes
    (item_id,) = ingest_variants(rt, clips["h264"], 1, tmp_path)
    took = run_for(rt, 0.5, fixity_pass.PassReport())
    assert took < 5 and checks(rt, item_id) == []


def test_a_rate_that_cannot_cover_the_holdings_is_warned_about(runtime_with, clips, tmp_path, caplog):
    size = clips["h264"].stat().st_size
    rt = runtime_with(fixity_period_days=SECOND_IN_DAYS, fixity_mbps=size / 1e6)  # one second per item
    ingest_variants(rt, clips["h264"], 2, tmp_path)
    report = fixity_pass.PassReport()
    with caplog.at_level(logging.WARNING, logger="ingest.fixity_pass"):
        run_for(rt, 0.3, report)
    assert report.keeps_up is False and report.full_pass_days is not None
    assert "raise EVIDENCE_FIXITY_MBPS to at least" in caplog.text
    assert fixity_pass.rate_covers(10**9, 1e6, timedelta(days=1)) == (True, 1000 / 86400)


def test_the_throttle_waits_for_the_rate_and_stops_when_told():
    waits: list[float] = []
    throttle = fixity_pass.Throttle(1000, lambda s: waits.append(s) or False)
    throttle(500)
    throttle(500)
    assert 0.4 < waits[0] <= 0.5 and 0.9 < waits[1] <= 1.0  # 1000 bytes at 1000 B/s: a second in all
    with pytest.raises(fixity_pass.Stopping):
        fixity_pass.Throttle(1, lambda s: True)(10)


def test_the_daemon_runs_the_pass_beside_ingest_and_reports_it(make_settings, clips, monkeypatch):
    from tests.ingest.test_daemon import items, running, wait_for

    monkeypatch.setattr(fixity_pass, "FIRST_S", 0.0)
    monkeypatch.setattr(fixity_pass, "IDLE_S", 0.5)  # with nothing due, it looks again this often
    settings = make_settings(fixity_period_days=30)
    drop(clips["h264"], settings.points[0].path, "ZFY0001/a.mp4")
    with running(settings) as daemon:
        wait_for(lambda: daemon.health.fixity.checked >= 1)
        report = daemon.health.as_dict()
        assert report["parts"]["fixity"]["state"] == "running"
        assert report["fixity"]["checked"] == 1 and report["fixity"]["keeps_up"] is True
        assert report["fixity"]["failed"] == 0 and report["fixity"]["alarms"] == []
        (item,) = items(settings)
        assert [e.kind for e in checks(daemon.rt, item.id)] == ["fixity_checked"]


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_a_station_queues_batches_and_workers_check_them_each_once(runtime_with, clips, tmp_path, request, db, caplog):
    from evidence import jobs
    from evidence.models import Job
    from ingest import worker

    extra = {"database_url": request.getfixturevalue("pg_url")} if db == "postgresql" else {}
    rt = runtime_with(fixity_period_days=30, **extra)
    ids = ingest_variants(rt, clips["h264"], 5, tmp_path)
    with transaction(rt.sessions) as session:
        key = session.get_one(Item, ids[3]).object_key
    tamper(rt, key, flip_byte)
    now = fixity_pass.utcnow()

    first = fixity_pass.plan_once(rt, now)
    assert sorted(first) == sorted(ids)  # never checked: all due, in one batch (BATCH is 50)
    assert fixity_pass.plan_once(rt, now) == []  # queued already: not again
    with transaction(rt.sessions) as session:
        (job,) = session.scalars(select(Job).where(Job.kind == "fixity")).all()
        assert (job.item_id, job.priority) == (None, jobs.AUDIT)
    with caplog.at_level(logging.ERROR, logger="ingest.fixity_pass"):
        assert worker.drain(rt, kinds=[jobs.JobKind.FIXITY]) == 1
    assert f"FIXITY ALARM: item {ids[3]}" in caplog.text
    for item_id in ids:
        assert [e.kind for e in checks(rt, item_id)] == ["fixity_failed" if item_id == ids[3] else "fixity_checked"]
    assert fixity_pass.plan_once(rt, now) == []  # all checked since: nothing is due


def test_the_planner_keeps_only_a_few_batches_queued_none_overlapping(runtime_with, clips, tmp_path, monkeypatch):
    from evidence import jobs

    monkeypatch.setattr(fixity_pass, "BATCH", 2)
    rt = runtime_with(fixity_period_days=30)
    ids = ingest_variants(rt, clips["h264"], 5, tmp_path)
    now = fixity_pass.utcnow()
    batches = [fixity_pass.plan_once(rt, now) for _ in range(fixity_pass.JOBS_AT_ONCE + 1)]
    assert batches[-1] == []  # JOBS_AT_ONCE batches queued: the planner waits for the workers
    queued = [i for batch in batches for i in batch]
    assert len(queued) == len(set(queued)) == 2 * fixity_pass.JOBS_AT_ONCE and set(queued) <= set(ids)
    with transaction(rt.sessions) as session:
        assert jobs.fixity_in_hand(session) == (fixity_pass.JOBS_AT_ONCE, set(queued))
