"""Leases through the real worker and handlers: a stalled worker is taken over and its late result refused;
a heartbeat keeps a long job; a worker pool claims only its kinds and releases what it holds when stopped."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select

from evidence import cases, export, jobs
from evidence.items import get_item
from evidence.jobs import JobKind
from evidence.models import CustodyEvent, Export, Job
from evidence.unit_of_work import transaction
from ingest import registry, worker
from ingest.pipeline import ingest_file
from ingest.runtime import open_runtime
from tests.media import drop


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request) -> dict[str, str]:
    return {} if request.param == "sqlite" else {"database_url": request.getfixturevalue("pg_url")}


@pytest.fixture(autouse=True)
def _fresh_registry():
    registry.handlers_by_kind.cache_clear()
    yield
    registry.handlers_by_kind.cache_clear()


def probed(make_settings, db, clips, **overrides):
    rt = open_runtime(make_settings(**db, **overrides), "test")
    point = rt.settings.points[0]
    item_id = ingest_file(rt, point, drop(clips["h264"], point.path, "ZFY0001/a.mp4")).item_id
    assert worker.drain(rt, item_ids=[item_id], kinds=[JobKind.PROBE]) == 1
    return rt, item_id


def wrap(monkeypatch, kind: JobKind, before) -> None:
    """Run ``before(call_number)`` ahead of ``kind``'s real handler."""
    real = dict(registry.BINDINGS)[kind]
    calls = iter(range(1, 100))

    def handler(rt, job, payload) -> None:
        before(next(calls))
        real(rt, job, payload)

    monkeypatch.setattr(registry, "BINDINGS", tuple((k, handler if k is kind else h) for k, h in registry.BINDINGS))
    registry.handlers_by_kind.cache_clear()


def count(rt, item_id: int, kind: str) -> int:
    with transaction(rt.sessions) as session:
        where = (CustodyEvent.item_id == item_id, CustodyEvent.kind == kind)
        return session.scalar(select(func.count()).select_from(CustodyEvent).where(*where))


def proxy_job(rt, item_id: int) -> Job:
    with transaction(rt.sessions) as session:
        return session.scalars(select(Job).where(Job.item_id == item_id, Job.kind == "proxy")).one()


def test_a_stalled_workers_job_is_taken_over_and_its_late_result_refused(make_settings, db, clips, monkeypatch, caplog):
    rt, item_id = probed(make_settings, db, clips, job_lease_seconds=1)
    taken_over = threading.Event()
    wrap(monkeypatch, JobKind.PROXY, lambda n: n == 1 and taken_over.wait(60))  # the first run stalls
    monkeypatch.setattr(worker.Heartbeat, "_beat", lambda self: None)  # frozen: its heartbeat stopped too
    try:
        first = threading.Thread(target=worker.run_one, args=(rt,), kwargs={"kinds": [JobKind.PROXY]})
        first.start()
        time.sleep(0.3)
        assert worker.run_one(rt, kinds=[JobKind.PROXY]) is False  # the lease still holds
        time.sleep(1.0)
        assert worker.run_one(rt, kinds=[JobKind.PROXY]) is True  # lapsed: taken over, made, recorded
        with transaction(rt.sessions) as session:
            item = get_item(session, item_id)
            made = (item.status, item.proxy_key, item.poster_key)
        taken_over.set()
        first.join(120)  # the stalled worker wakes, makes its proxy again and tries to record it
        assert not first.is_alive()
        job = proxy_job(rt, item_id)
        assert (job.state, job.attempts, job.last_error) == ("done", 2, None)
        assert count(rt, item_id, "proxy_made") == 1  # not a second custody event
        assert count(rt, item_id, "failed") == 0
        with transaction(rt.sessions) as session:
            item = get_item(session, item_id)
            assert (item.status, item.proxy_key, item.poster_key) == made
        assert "dropped the result of job" in caplog.text
    finally:
        taken_over.set()
        rt.close()


def test_a_heartbeat_keeps_a_long_jobs_lease(make_settings, db, clips, monkeypatch):
    rt, item_id = probed(make_settings, db, clips, job_lease_seconds=1)
    wrap(monkeypatch, JobKind.PROXY, lambda n: time.sleep(2.5))  # 2.5 leases long
    try:
        first = threading.Thread(target=worker.run_one, args=(rt,), kwargs={"kinds": [JobKind.PROXY]})
        first.start()
        for _ in range(4):
            time.sleep(0.5)
            with transaction(rt.sessions) as session:  # nobody else can take it meanwhile
                assert jobs.claim(session, "other-host:1", 1, kinds=[JobKind.PROXY]) is None
        first.join(120)
        job = proxy_job(rt, item_id)
        assert (job.state, job.attempts) == ("done", 1)
        assert count(rt, item_id, "proxy_made") == 1
    finally:
        rt.close()


def test_a_pool_claims_only_its_kinds_and_releases_what_it_holds_when_stopped(make_settings, db, clips, monkeypatch):
    rt, item_id = probed(make_settings, db, clips)
    release = threading.Event()
    wrap(monkeypatch, JobKind.PROXY, lambda n: release.wait(60))
    stop = threading.Event()
    try:
        clip_only = worker.Pool(rt, stop, concurrency=2, kinds=[JobKind.CLIP], idle_s=0.1).start()
        time.sleep(0.5)
        assert proxy_job(rt, item_id).state == "queued"  # not its kind
        stop.set()
        assert clip_only.join(10) == []
        stop = threading.Event()
        pool = worker.Pool(rt, stop, concurrency=2, kinds=[JobKind.PROXY], idle_s=0.1).start()
        deadline = time.monotonic() + 10
        while proxy_job(rt, item_id).state != "running" and time.monotonic() < deadline:
            time.sleep(0.05)
        job_id = proxy_job(rt, item_id).id
        stop.set()
        assert pool.join(grace_s=0.5) == [job_id]  # still running after the grace: released
        job = proxy_job(rt, item_id)
        assert (job.state, job.attempts, job.lease_token) == ("queued", 0, None)
        release.set()  # the slow handler finishes; its result is refused
        for thread in pool.threads:
            thread.join(120)
        assert proxy_job(rt, item_id).state == "queued" and count(rt, item_id, "proxy_made") == 0
    finally:
        release.set()
        stop.set()
        rt.close()


def test_a_job_whose_workers_keep_dying_is_parked_failed_not_run_again(make_settings, db, clips):
    rt, item_id = probed(make_settings, db, clips, job_max_attempts=2)
    try:
        for owner in ("host-a:1", "host-b:2"):  # two tries, each worker killed mid-job: its lease lapses
            with transaction(rt.sessions) as session:
                assert jobs.claim(session, owner, 0.01, kinds=[JobKind.PROXY]) is not None
            time.sleep(0.05)
        assert worker.run_one(rt, kinds=[JobKind.PROXY]) is True
        job = proxy_job(rt, item_id)
        assert job.state == "failed" and job.last_error.startswith("JobAbandoned: 2 tries")
        assert count(rt, item_id, "proxy_made") == 0 and count(rt, item_id, "failed") == 1
        with transaction(rt.sessions) as session:
            assert get_item(session, item_id).status == "media_error"
    finally:
        rt.close()


def test_a_stalled_export_is_taken_over_and_its_late_package_refused(make_settings, db, clips, monkeypatch, caplog):
    rt, item_id = probed(make_settings, db, clips, job_lease_seconds=1)
    with transaction(rt.sessions) as session:
        case = cases.open_case(session, "C-LEASE", "lease", "U1", "rev1", "test")
        cases.link(session, case, get_item(session, item_id), "seen", "rev1", "test", rules=rt.settings.retention)
        export_id = export.request(session, case, "rev1", "test", False).id
        jobs.enqueue_export(session, export_id)
    taken_over = threading.Event()
    wrap(monkeypatch, JobKind.EXPORT, lambda n: n == 1 and taken_over.wait(60))
    monkeypatch.setattr(worker.Heartbeat, "_beat", lambda self: None)
    try:
        first = threading.Thread(target=worker.run_one, args=(rt,), kwargs={"kinds": [JobKind.EXPORT]})
        first.start()
        time.sleep(1.3)
        assert worker.run_one(rt, kinds=[JobKind.EXPORT]) is True  # lapsed: taken over, made, recorded
        with transaction(rt.sessions) as session:
            made = session.get_one(Export, export_id)
            assert made.state == "done"
            package = made.path
        taken_over.set()
        first.join(120)  # the stalled worker wakes, builds and publishes its own package, tries to record it
        assert not first.is_alive()
        with transaction(rt.sessions) as session:
            row = session.get_one(Export, export_id)
            assert (row.state, row.path) == ("done", package)  # the winner's package stays the one recorded
            exported = session.scalar(
                select(func.count()).select_from(CustodyEvent).where(CustodyEvent.kind == "exported")
            )
            assert exported == 2  # the case and its one item, once
            job = session.scalars(select(Job).where(Job.kind == "export")).one()
            assert (job.state, job.attempts, job.last_error) == ("done", 2, None)
        assert "dropped the result of job" in caplog.text
        assert not [p for p in rt.ready_store().staging_dir().iterdir() if "export" in p.name]
    finally:
        taken_over.set()
        rt.close()


def test_retrying_a_failed_proxy_once_its_cause_is_fixed_makes_the_item_ready(make_settings, db, clips):
    rt, item_id = probed(make_settings, db, clips, job_max_attempts=1, ffmpeg="/nonexistent/ffmpeg")
    try:
        worker.drain(rt, item_ids=[item_id])
        job = proxy_job(rt, item_id)
        with transaction(rt.sessions) as session:
            item = get_item(session, item_id)
            assert (job.state, item.status) == ("failed", "media_error") and item.error.startswith("proxy: ")
    finally:
        rt.close()
    rt = open_runtime(make_settings(**db), "test")  # the operator installs ffmpeg, then retries the job
    try:
        with transaction(rt.sessions) as session:
            jobs.requeue(session, job.id, "operator", "test")
            assert get_item(session, item_id).status == "stored"
        assert worker.drain(rt, item_ids=[item_id]) == 1
        with transaction(rt.sessions) as session:
            item = get_item(session, item_id)
            assert (item.status, item.error) == ("ready", None) and item.proxy_key
            requeued = session.scalars(
                select(CustodyEvent).where(CustodyEvent.item_id == item_id, CustodyEvent.kind == "job_requeued")
            ).one()
            assert '"reopened_media_error":"proxy: ' in requeued.details
        assert count(rt, item_id, "proxy_made") == 1
    finally:
        rt.close()
