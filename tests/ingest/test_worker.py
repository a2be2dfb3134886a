"""The worker's failure branches: a transient failure is retried under the JOB policy, a crash is recorded."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from evidence import retries
from evidence.items import get_item
from evidence.models import CustodyEvent, Job, utcnow
from evidence.unit_of_work import transaction
from ingest import registry, worker
from ingest.pipeline import ingest_file
from ingest.runtime import open_runtime
from tests.media import drop


def ingested(settings, clips):
    rt = open_runtime(settings, "test")
    point = rt.settings.points[0]
    return rt, ingest_file(rt, point, drop(clips["h264"], point.path, "ZFY0001/a.mp4")).item_id


def job_and_failures(rt, item_id: int, kind: str):
    with transaction(rt.sessions) as session:
        job = session.scalars(select(Job).where(Job.item_id == item_id, Job.kind == kind)).one()
        failed = session.scalars(
            select(CustodyEvent).where(CustodyEvent.item_id == item_id, CustodyEvent.kind == "failed")
        ).all()
        item = get_item(session, item_id)
        return job, [(e.outcome, json.loads(e.details)) for e in failed], (item.status, item.error)


def test_a_tool_timeout_puts_the_job_back_with_the_job_policys_delay(make_settings, clips):
    # ffprobe gets its usual time; ffmpeg (the proxy) is killed at once: a ToolTimeout, which may pass
    rt, item_id = ingested(make_settings(tool_timeout_seconds=0.001), clips)
    try:
        before = utcnow()
        worker.drain(rt, item_ids=[item_id])  # stops once the proxy job waits for its next try
        job, failures, item = job_and_failures(rt, item_id, "proxy")
        assert job.state == "queued" and job.attempts == 1 and "ToolTimeout" in job.last_error
        wait = job.run_after - before
        assert timedelta(seconds=retries.JOB.delay(1)) <= wait < timedelta(seconds=retries.JOB.delay(1) + 5)
        assert [(outcome, d["will_retry"]) for outcome, d in failures] == [("warning", True)]
        assert item == ("stored", None)  # not judged yet: the job will run again
    finally:
        rt.close()


def test_when_the_tries_are_spent_the_job_fails_and_marks_the_item(make_settings, clips):
    rt, item_id = ingested(make_settings(tool_timeout_seconds=0.001, job_max_attempts=1), clips)
    try:
        worker.drain(rt, item_ids=[item_id])
        job, failures, (status, error) = job_and_failures(rt, item_id, "proxy")
        assert job.state == "failed" and job.finished_at is not None
        assert [(outcome, d["will_retry"]) for outcome, d in failures] == [("failure", False)]
        assert status == "media_error" and "ToolTimeout" in error
    finally:
        rt.close()


def test_a_crashing_handler_is_recorded_and_the_worker_goes_on(make_settings, clips, monkeypatch):
    def buggy(rt, job, payload) -> None:
        raise RuntimeError("a bug in the probe handler")

    monkeypatch.setattr(
        registry, "BINDINGS", tuple((k, buggy if k.value == "probe" else h) for k, h in registry.BINDINGS)
    )
    registry.handlers_by_kind.cache_clear()
    rt, item_id = ingested(make_settings(), clips)
    try:
        assert worker.drain(rt, item_ids=[item_id]) == 1  # the crash is caught; nothing else was queued
        job, failures, (status, error) = job_and_failures(rt, item_id, "probe")
        assert job.state == "failed" and job.last_error == "RuntimeError: a bug in the probe handler"
        assert [(outcome, d["error"]) for outcome, d in failures] == [
            ("failure", "RuntimeError: a bug in the probe handler")
        ]
        assert status == "media_error" and "a bug in the probe handler" in error
    finally:
        rt.close()
        registry.handlers_by_kind.cache_clear()


@pytest.fixture(autouse=True)
def _fresh_registry():
    registry.handlers_by_kind.cache_clear()
    yield
    registry.handlers_by_kind.cache_clear()


def test_an_export_whose_job_gives_up_is_failed_not_left_running(make_settings, monkeypatch):
    from evidence import export, jobs
    from evidence.errors import StoreUnavailable
    from evidence.models import Case, Export

    def store_down(rt, job, payload) -> None:
        raise StoreUnavailable("the S3 server is unreachable")

    monkeypatch.setattr(
        registry, "BINDINGS", tuple((k, store_down if k.value == "export" else h) for k, h in registry.BINDINGS)
    )
    registry.handlers_by_kind.cache_clear()
    rt = open_runtime(make_settings(job_max_attempts=1), "test")
    try:
        with transaction(rt.sessions) as session:
            case = Case(number="2026-001", title="t", unit="U1", created_by="sup1")
            session.add(case)
            session.flush()
            export_id = export.request(session, case, "sup1", "test", False).id
            jobs.enqueue_export(session, export_id)
        worker.drain(rt)
        with transaction(rt.sessions) as session:
            row = session.get(Export, export_id)
            assert row.state == "failed" and "unreachable" in row.error and row.finished_at is not None
    finally:
        rt.close()
