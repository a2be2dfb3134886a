"""The retention sweep as a worker's job: a station queues one a day, a worker runs it."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from evidence import jobs
from evidence.models import Item, Job, utcnow
from evidence.unit_of_work import transaction
from ingest import fixity_pass, retention_pass, worker
from ingest.pipeline import ingest_file
from ingest.runtime import open_runtime
from tests.evidence.retention_world import add_item
from tests.media import drop


def test_one_sweep_job_a_day_whoever_queues_it(make_settings, backend):
    rt = open_runtime(make_settings(**backend), "test")
    try:
        with transaction(rt.sessions) as session:
            first = jobs.enqueue_sweep(session, date(2026, 11, 30)).id
        with transaction(rt.sessions) as session:  # a second station, the same day
            assert jobs.enqueue_sweep(session, date(2026, 11, 30)).id == first
            assert jobs.enqueue_sweep(session, date(2026, 12, 1)).id != first
            sweeps = session.scalars(select(Job).where(Job.kind == "sweep")).all()
            assert len(sweeps) == 2 and {j.priority for j in sweeps} == {jobs.HOUSEKEEPING}
    finally:
        rt.close()


def test_a_worker_runs_the_sweep_job_and_footage_past_retention_expires(make_settings, clips):
    rt = open_runtime(make_settings(retain_days=180), "test")
    try:
        point = rt.settings.points[0]
        young = ingest_file(rt, point, drop(clips["h264"], point.path, "ZFY0001/young.mp4")).item_id
        with transaction(rt.sessions) as session:
            old = add_item(session, "old", recorded_end=utcnow() - timedelta(days=200)).id
            jobs.enqueue_sweep(session, utcnow().date())
        assert worker.drain(rt, kinds=[jobs.JobKind.SWEEP]) == 1
        with transaction(rt.sessions) as session:
            assert session.get_one(Item, old).status == "expired"
            assert session.get_one(Item, young).status == "stored"  # its probe and proxy are not the sweep's
            (job,) = session.scalars(select(Job).where(Job.kind == "sweep")).all()
            assert job.state == "done"
    finally:
        rt.close()


def test_a_station_queues_its_maintenance_and_does_none_of_it_itself(make_settings, clips, monkeypatch):
    from tests.ingest.test_daemon import running, wait_for

    monkeypatch.setattr(fixity_pass, "FIRST_S", 0.0)
    monkeypatch.setattr(retention_pass, "FIRST_S", 0.0)
    monkeypatch.setattr(fixity_pass, "IDLE_S", 0.5)  # nothing due before the file is in: look again soon
    settings = make_settings(fixity_period_days=30)
    drop(clips["h264"], settings.points[0].path, "ZFY0001/a.mp4")

    def queued() -> dict[str, str]:
        with transaction(daemon.rt.sessions) as session:
            return {job.kind: job.state for job in session.scalars(select(Job))}

    with running(settings, jobs=False) as daemon:
        wait_for(lambda: {"fixity", "sweep"} <= set(queued()))
        assert queued()["fixity"] == queued()["sweep"] == "queued"  # left to the workers
        assert daemon.health.fixity.checked == 0
