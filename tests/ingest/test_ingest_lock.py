"""A new original is locked at ingest (provisionally) and then to its verdict, on the S3 server the
suite starts; the folder store keeps it read-only and records that it cannot lock."""

from __future__ import annotations

import json
import logging
import os
from datetime import timedelta

import pytest

from evidence import custody, object_lock
from evidence.errors import StoreUnavailable
from evidence.models import Item
from evidence.unit_of_work import transaction
from ingest import worker
from ingest.pipeline import ingest_file
from ingest.runtime import open_runtime
from tests.media import drop


@pytest.fixture
def s3_rt(make_settings, moto):
    runtime = open_runtime(make_settings(storage_url=moto.url()), "test")
    yield runtime
    runtime.close()


def item_of(rt, item_id: int) -> Item:
    with transaction(rt.sessions) as s:
        item = s.get_one(Item, item_id)
        s.expunge(item)
        return item


def lock_events(rt, item_id: int) -> list[dict]:
    with transaction(rt.sessions) as s:
        return [json.loads(e.details) for e in custody.log_for(s, item_id) if e.kind == "lock_applied"]


def test_an_ingested_original_is_locked_at_once_then_to_its_keep_until(s3_rt, clips):
    rt = s3_rt
    upload = rt.settings.points[0].path
    result = ingest_file(rt, rt.settings.points[0], drop(clips["h264"], upload, "ZFY0001/clip.mp4"))
    item = item_of(rt, result.item_id)
    grace = timedelta(days=rt.settings.retention_grace_days)
    assert item.lock_state == "compliance"
    assert item.lock_until == object_lock.ceil_second(item.received_at + grace)
    (event,) = lock_events(rt, item.id)
    assert event["mode"] == "COMPLIANCE" and "provisional" in event["why"] and event["version_id"]
    with pytest.raises(StoreUnavailable, match="AccessDenied"):
        rt.store.delete(item.object_key)
    assert rt.store.size(item.object_key) == clips["h264"].stat().st_size

    worker.drain(rt, item_ids=[item.id])  # probe: the recording's time, so the retention verdict
    object_lock.refresh(rt.sessions, rt.store, rt.agent())
    item = item_of(rt, item.id)
    assert item.keep_until is not None and item.lock_until == object_lock.ceil_second(item.keep_until)
    assert len(lock_events(rt, item.id)) == 2


def test_a_duplicate_adds_no_lock(s3_rt, clips):
    rt = s3_rt
    upload = rt.settings.points[0].path
    first = ingest_file(rt, rt.settings.points[0], drop(clips["h264"], upload, "ZFY0001/a.mp4"))
    again = ingest_file(rt, rt.settings.points[0], drop(clips["h264"], upload, "ZFY0001/b.mp4"))
    assert again.outcome == "duplicate" and again.item_id == first.item_id
    assert len(lock_events(rt, first.item_id)) == 1


def test_the_folder_store_keeps_originals_read_only_and_records_no_lock(make_settings, clips):
    rt = open_runtime(make_settings(), "test")
    try:
        upload = rt.settings.points[0].path
        result = ingest_file(rt, rt.settings.points[0], drop(clips["h264"], upload, "ZFY0001/clip.mp4"))
        item = item_of(rt, result.item_id)
        assert item.lock_state is None and lock_events(rt, item.id) == []
        assert not os.stat(rt.store.root / item.object_key).st_mode & 0o222
        object_lock.refresh(rt.sessions, rt.store, rt.agent())
        assert item_of(rt, item.id).lock_state == "unsupported" and lock_events(rt, item.id) == []
    finally:
        rt.close()


def test_the_daemon_reports_a_bucket_without_object_lock(make_settings, moto, caplog):
    from ingest.daemon import Daemon

    settings = make_settings(storage_url=moto.url())
    runtime = open_runtime(settings, "test")
    try:
        runtime.store.client.make_bucket(bucket_name=runtime.store.bucket)  # an old bucket: no lock
        daemon = Daemon(settings)
        daemon.rt = runtime
        with caplog.at_level(logging.WARNING):
            daemon._start()
        assert daemon.health.as_dict()["object_lock"] == "off"
        assert any("has no object lock" in r.getMessage() for r in caplog.records)
    finally:
        runtime.close()
