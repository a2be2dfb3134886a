"""One registry of job kinds: checked at start-up, and a payload that does not fit is a clear error."""

from __future__ import annotations

import json
import threading

import pytest
from sqlalchemy import select

from evidence import jobs
from evidence.errors import ConfigError, InvalidJobPayload, JobRegistryInvalid, LeaseLost
from evidence.jobs import ClipRequest, JobKind, JobSpec, Nothing
from evidence.models import CustodyEvent, Job
from evidence.unit_of_work import transaction
from ingest import registry, worker
from ingest.daemon import Daemon
from ingest.pipeline import ingest_file
from tests.media import drop


def handler(rt, job, payload) -> None:
    pass


ALL = [(kind, handler) for kind in JobKind]


def test_the_registry_of_this_build_binds_one_handler_to_every_kind():
    assert set(registry.handlers_by_kind()) == set(JobKind)
    assert jobs.SPECS[jobs.FIRST_JOB].then == JobKind.PROXY


def test_a_kind_without_a_handler_is_refused():
    with pytest.raises(JobRegistryInvalid, match="clip has no handler"):
        registry.check([b for b in ALL if b[0] is not JobKind.CLIP], jobs.SPECS)


def test_a_broken_registry_is_a_config_error_not_an_assert():
    with pytest.raises(ConfigError, match="clip has no handler"):
        registry.check([b for b in ALL if b[0] is not JobKind.CLIP], jobs.SPECS)


def test_two_handlers_for_one_kind_are_refused():
    with pytest.raises(JobRegistryInvalid, match="probe has 2 handlers"):
        registry.check([*ALL, (JobKind.PROBE, handler)], jobs.SPECS)


def test_a_handler_for_no_kind_is_refused():
    with pytest.raises(JobRegistryInvalid, match="bound to 'thumbnail', which is not a job kind"):
        registry.check([*ALL, ("thumbnail", handler)], jobs.SPECS)


def test_a_next_step_that_is_not_a_kind_is_refused():
    specs = {**jobs.SPECS, JobKind.PROXY: JobSpec(Nothing, then="thumbnail")}
    with pytest.raises(JobRegistryInvalid, match="followed by 'thumbnail', which is not a job kind"):
        registry.check(ALL, specs)


def test_a_payload_type_that_cannot_parse_is_refused():
    specs = {**jobs.SPECS, JobKind.CLIP: JobSpec(dict)}
    with pytest.raises(JobRegistryInvalid, match="payload type .* cannot parse a stored payload"):
        registry.check(ALL, specs)


def test_payloads_parse_into_their_kinds_type():
    asked = {"start_s": 1, "end_s": 2.5, "case_id": 3, "requested_by": "sup", "agent": "api"}
    clip = Job(id=1, kind="clip", payload=json.dumps(asked))
    assert jobs.payload_of(clip) == ClipRequest(start_s=1.0, end_s=2.5, case_id=3, requested_by="sup", agent="api")
    assert jobs.payload_of(Job(id=2, kind="probe", payload=None)) == Nothing()


@pytest.mark.parametrize(
    ("kind", "payload"),
    [("clip", '{"start_s": 1}'), ("clip", "not json"), ("probe", '{"extra": 1}'), ("thumbnail", None)],
)
def test_a_payload_that_does_not_parse_is_invalid_job_payload(kind, payload):
    with pytest.raises(InvalidJobPayload, match=f"job 7 \\({kind}\\): payload does not parse"):
        jobs.payload_of(Job(id=7, kind=kind, payload=payload))


def test_a_job_whose_payload_does_not_parse_fails_with_the_reason_recorded(make_settings, clips):
    from ingest.runtime import open_runtime

    rt = open_runtime(make_settings(), "test")
    try:
        point = rt.settings.points[0]
        result = ingest_file(rt, point, drop(clips["h264"], point.path, "ZFY0001/a.mp4"))
        with transaction(rt.sessions) as session:
            job = jobs.enqueue(session, result.item_id, JobKind.PROBE)
            job.payload = '{"start_s": "soon"}'
        worker.drain(rt, item_ids=[result.item_id])
        with transaction(rt.sessions) as session:
            job = session.scalars(select(Job).where(Job.item_id == result.item_id, Job.kind == "probe")).one()
            failed = session.scalars(select(CustodyEvent).where(CustodyEvent.kind == "failed")).all()
            assert job.state == "failed" and "InvalidJobPayload" in job.last_error
            assert "payload does not parse" in json.loads(failed[-1].details)["error"]
    finally:
        rt.close()


def test_enqueue_checks_a_payload_given_as_a_dict(make_settings):
    from ingest.runtime import open_runtime

    rt = open_runtime(make_settings(), "test")
    try:
        with transaction(rt.sessions) as session, pytest.raises(InvalidJobPayload, match="clip job"):
            jobs.enqueue_with_payload(session, 1, JobKind.CLIP, {"start_s": 1.0})
    finally:
        rt.close()


def test_the_daemon_refuses_to_start_with_a_broken_registry(make_settings, monkeypatch):
    monkeypatch.setattr(registry, "BINDINGS", registry.BINDINGS[:-1])
    registry.handlers_by_kind.cache_clear()
    try:
        daemon = Daemon(make_settings(), stop=threading.Event())
        with pytest.raises(JobRegistryInvalid, match="clip has no handler"):
            daemon.run()
        assert "start" not in daemon.health.parts
    finally:
        registry.handlers_by_kind.cache_clear()


def test_a_late_failure_of_a_job_does_not_undo_a_settled_item(make_settings, clips):
    """A second run of a job (its lease ran out) that fails leaves an item already READY as it is."""
    from evidence.errors import MediaError
    from evidence.items import get_item
    from ingest.runtime import open_runtime

    rt = open_runtime(make_settings(), "test")
    try:
        point = rt.settings.points[0]
        result = ingest_file(rt, point, drop(clips["h264"], point.path, "ZFY0001/a.mp4"))
        worker.drain(rt, item_ids=[result.item_id])
        with transaction(rt.sessions) as session:
            job = session.scalars(select(Job).where(Job.item_id == result.item_id, Job.kind == "proxy")).one()
            session.expunge(job)
        with pytest.raises(LeaseLost):  # fenced: the job is done, the late run holds no lease
            worker._record_failure(rt, job, MediaError("late run"), permanent=True)
        with transaction(rt.sessions) as session:
            item = get_item(session, result.item_id)
            assert (item.status, item.error) == ("ready", None)
    finally:
        rt.close()
