"""Fixity audits on real stores (folder, S3) and databases (SQLite, PostgreSQL): originals ingested by
the pipeline, then changed or removed behind the system's back."""

from __future__ import annotations

import io
import json
import os
import random
from datetime import timedelta

import pytest

from evidence import custody, custody_verify, fixity
from evidence.errors import FixityAlarm, InvalidInput
from evidence.models import Item, ItemStatus, utcnow
from evidence.unit_of_work import transaction
from ingest.pipeline import ingest_file
from ingest.runtime import open_runtime
from tests.media import drop

AGENT = "test fixity"


@pytest.fixture
def upload_for(request, make_settings):
    """A runtime on SQLite and the folder store ("file") or the suite's S3 server ("s3"), and its upload point."""
    opened = []

    def make(storage: str):
        extra = {"storage_url": request.getfixturevalue("moto").url()} if storage == "s3" else {}
        rt = open_runtime(make_settings(**extra), "test")
        opened.append(rt)
        point = rt.settings.points[0].path
        point.mkdir(parents=True, exist_ok=True)
        return rt, point

    yield make
    for rt in opened:
        rt.close()


def ingest(rt, upload, src, rel: str) -> int:
    result = ingest_file(rt, rt.settings.points[0], drop(src, upload, rel))
    assert result.outcome == "new"
    return result.item_id


def variant(tmp_path, src, tag: str):
    """The clip with a few bytes appended: other content, so another item."""
    path = tmp_path / f"{tag}.mp4"
    path.write_bytes(src.read_bytes() + tag.encode())
    return path


def targets(rt, **selection) -> list[fixity.Target]:
    with transaction(rt.sessions) as session:
        return fixity.select_targets(session, **selection)


def audit(rt, **selection) -> list[fixity.Result]:
    return fixity.check_all(rt.sessions, rt.store, targets(rt, **selection), agent=AGENT)


def fixity_events(rt, item_id: int) -> list[dict]:
    with transaction(rt.sessions) as session:
        return [custody.as_dict(e) for e in custody.log_for(session, item_id) if e.kind.startswith("fixity_")]


def row(rt, item_id: int) -> Item:
    with transaction(rt.sessions) as session:
        return session.get_one(Item, item_id)


def tamper(rt, key: str, change) -> None:
    """Change a stored object behind the system's back: the folder store's read-only file made writable
    for a moment; on S3, a new version of the key (what a client with write access to the bucket does)."""
    store = rt.store
    if hasattr(store, "root"):
        path = store.root / key
        os.chmod(path, 0o644)
        path.write_bytes(change(path.read_bytes()))
        os.chmod(path, 0o444)
    else:
        data = change(b"".join(store.iter_chunks(key)))
        store.client.put_object(store.bucket, key, io.BytesIO(data), len(data))


def remove(rt, key: str) -> None:
    """Make a stored object disappear: the folder store's file unlinked; on S3 (where object lock
    refuses to delete a locked version) a delete marker over it, which any client with delete rights
    can place: the key then answers 404."""
    store = rt.store
    if hasattr(store, "root"):
        (store.root / key).unlink()
    else:
        store.client.remove_object(store.bucket, key)


def flip_byte(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1 :]


def test_clean_items_pass_and_each_check_is_a_custody_event(rt, upload, clips, tmp_path):
    ids = [ingest(rt, upload, clips["h264"], "ZFY0001/a.mp4"), ingest(rt, upload, clips["mjpeg"], "ZFY0001/b.avi")]
    before = utcnow()
    results = audit(rt)
    assert [(r.item_id, r.ok, r.alarm, r.missing) for r in results] == [(i, True, False, False) for i in ids]
    for item_id in ids:
        item = row(rt, item_id)
        assert item.fixity_alarm is False and before <= item.fixity_checked_at <= utcnow()
        (event,) = fixity_events(rt, item_id)
        assert event["kind"] == "fixity_checked" and event["outcome"] == "success"
        assert event["details"]["sha256"] == item.sha256 and event["details"]["size_bytes"] == item.size_bytes
        assert event["details"]["object_key"] == item.object_key and event["details"]["seconds"] >= 0
        assert event["occurred_at"] <= event["recorded_at"] and "sha256" in event["tool"]
    with transaction(rt.sessions) as session:
        assert fixity.alarm_count(session) == 0
        assert custody_verify.verify(session).ok


@pytest.mark.parametrize("storage", ["file", "s3"])
def test_a_flipped_byte_sets_an_alarm_that_a_later_pass_does_not_clear(storage, upload_for, clips):
    rt, upload = upload_for(storage)
    good, bad = ingest(rt, upload, clips["h264"], "ZFY0001/a.mp4"), ingest(rt, upload, clips["mjpeg"], "ZFY0001/b.avi")
    item = row(rt, bad)
    original = b"".join(rt.store.iter_chunks(item.object_key))
    tamper(rt, item.object_key, flip_byte)

    results = {r.item_id: r for r in audit(rt)}
    assert results[good].ok and not results[good].alarm
    assert not results[bad].ok and results[bad].alarm and not results[bad].missing
    (failed,) = fixity_events(rt, bad)
    assert failed["kind"] == "fixity_failed" and failed["outcome"] == "failure"
    details = failed["details"]
    assert details["problem"] == "mismatch"
    assert details["expected"] == {"sha256": item.sha256, "size_bytes": item.size_bytes}
    assert details["found"]["size_bytes"] == item.size_bytes and details["found"]["sha256"] != item.sha256
    assert row(rt, bad).fixity_alarm is True and row(rt, good).fixity_alarm is False
    with transaction(rt.sessions) as session:
        assert fixity.alarm_count(session) == 1

    # put the right bytes back: the next check passes and says so, but the alarm stands until resolved
    tamper(rt, item.object_key, lambda _: original)
    (again,) = audit(rt, item_id=bad)
    assert again.ok and again.alarm
    last = fixity_events(rt, bad)[-1]
    assert last["kind"] == "fixity_checked" and "stands" in last["details"]["alarm"]
    assert row(rt, bad).fixity_alarm is True

    # a person resolves it, with a reason, once a fresh check passes; the failed checks stay in the log
    with pytest.raises(InvalidInput), transaction(rt.sessions) as session:
        fixity.resolve(session, again, "  ", agent="t", by="auditor")
    with transaction(rt.sessions) as session:
        fixity.resolve(session, again, "restored from the offsite copy, ticket 42", agent="t", by="auditor")
    assert row(rt, bad).fixity_alarm is False
    resolved = fixity_events(rt, bad)[-1]
    assert resolved["kind"] == "fixity_resolved" and resolved["details"]["reason"].startswith("restored")
    assert [e["kind"] for e in fixity_events(rt, bad)].count("fixity_failed") == 1
    tamper(rt, item.object_key, flip_byte)
    (failing,) = audit(rt, item_id=bad)
    with pytest.raises(FixityAlarm), transaction(rt.sessions) as session:
        fixity.resolve(session, failing, "hoping", agent="t", by="auditor")


@pytest.mark.parametrize("storage", ["file", "s3"])
def test_a_missing_object_is_an_alarm(storage, upload_for, clips):
    rt, upload = upload_for(storage)
    item_id = ingest(rt, upload, clips["h264"], "ZFY0001/a.mp4")
    item = row(rt, item_id)
    remove(rt, item.object_key)
    (result,) = audit(rt)
    assert (result.ok, result.missing, result.alarm) == (False, True, True)
    (event,) = fixity_events(rt, item_id)
    assert event["kind"] == "fixity_failed" and event["details"]["problem"] == "missing"
    assert event["details"]["found"] == "missing"
    assert event["details"]["expected"] == {"sha256": item.sha256, "size_bytes": item.size_bytes}


def test_an_object_purged_while_it_was_read_is_no_alarm(upload_for, clips):
    rt, upload = upload_for("file")
    item_id = ingest(rt, upload, clips["h264"], "ZFY0001/a.mp4")
    (target,) = targets(rt)
    rt.store.delete(target.object_key)
    reading = fixity.read(rt.store, target)
    assert reading.missing
    with transaction(rt.sessions) as session:  # the sweeper's purge commits between the read and the record
        purged = session.get_one(Item, item_id)
        purged.status, purged.purged_at = ItemStatus.PURGED.value, utcnow()
    with transaction(rt.sessions) as session:
        result = fixity.record(session, reading, agent=AGENT, store=rt.store.description)
    assert result.skipped == "purged meanwhile" and not result.alarm
    assert fixity_events(rt, item_id) == [] and row(rt, item_id).fixity_alarm is False
    assert targets(rt) == [], "purged items are not audited"
    with pytest.raises(InvalidInput, match="purged"):
        targets(rt, item_id=item_id)


def test_selection_by_item_age_and_sample(upload_for, clips, tmp_path):
    rt, upload = upload_for("file")
    ids = [ingest(rt, upload, variant(tmp_path, clips["h264"], f"v{n}"), f"ZFY0001/{n}.mp4") for n in range(10)]
    now = utcnow()
    with transaction(rt.sessions) as session:  # 0-3 never checked; 4-6 checked 40 days ago; 7-9 yesterday
        for n, item_id in enumerate(ids):
            age = None if n < 4 else timedelta(days=40) if n < 7 else timedelta(days=1)
            session.get_one(Item, item_id).fixity_checked_at = None if age is None else now - age

    assert [t.item_id for t in targets(rt, item_id=ids[8])] == [ids[8]]
    assert [t.item_id for t in targets(rt)] == ids
    assert [t.item_id for t in targets(rt, older_than_days=30, now=now)] == ids[:7]
    assert [t.item_id for t in targets(rt, older_than_days=0.5, now=now)] == ids
    sample = targets(rt, sample_percent=30, rng=random.Random(7))
    assert len(sample) == 3 and {t.item_id for t in sample} <= set(ids)
    assert sample != targets(rt, sample_percent=30, rng=random.Random(8)), "another draw, another sample"
    old_sample = targets(rt, older_than_days=30, sample_percent=50, now=now, rng=random.Random(1))
    assert len(old_sample) == 4 and {t.item_id for t in old_sample} <= set(ids[:7])
    assert len(targets(rt, sample_percent=1)) == 1, "at least one when any qualify"
    with transaction(rt.sessions) as session:  # the rolling pass: never checked first, then the oldest
        due = fixity.next_due(session, now - timedelta(days=30), limit=100)
        assert [t.item_id for t in due] == ids[:7]
        assert [t.item_id for t in fixity.next_due(session, now, limit=5)] == ids[:5]
        assert fixity.oldest_check(session) is None
        assert fixity.holdings_bytes(session) == sum(session.get_one(Item, i).size_bytes for i in ids)

    for bad, says in (
        ({"sample_percent": 0}, "--sample"),
        ({"sample_percent": 101}, "--sample"),
        ({"older_than_days": -1}, "--older-than"),
        ({"item_id": 999}, "no item 999"),
        ({"item_id": 2**40}, "no item"),
    ):
        with pytest.raises(InvalidInput, match=says):
            targets(rt, **bad)
    assert json.dumps(audit(rt, item_id=ids[0])[0].as_dict())
