"""The ingest pipeline end to end, on each storage backend and on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from evidence import custody, custody_verify
from evidence.adapters.filestore import FileStore
from evidence.errors import IntegrityFailure, InvalidInput, SourceChanged, StoreUnavailable
from evidence.items import get_item, item_view
from evidence.models import CustodyEvent, Item, Receipt
from evidence.unit_of_work import transaction
from ingest import worker
from ingest.pipeline import _record, ingest_file, store_and_verify
from ingest.probe import probe
from ingest.runtime import open_runtime
from tests.media import MJPEG_NAME, drop


def sha256_of(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def stored_bytes(rt, key: str) -> bytes:
    return b"".join(rt.store.iter_chunks(key))


def kinds(rt, item_id: int) -> list[str]:
    with transaction(rt.sessions) as session:
        return [e.kind for e in custody.log_for(session, item_id)]


def view(rt, item_id: int) -> dict:
    with transaction(rt.sessions) as session:
        return item_view(get_item(session, item_id))


def ingest_and_process(rt, path):
    result = ingest_file(rt, rt.settings.points[0], path)
    if result.item_id is not None:
        worker.drain(rt, item_ids=[result.item_id])
    return result


def test_h264_clip_is_stored_verified_proxied_and_under_custody(rt, upload, clips):
    src = drop(clips["h264"], upload, "ZFY0001/clip.mp4")
    expected_sha = sha256_of(src)
    result = ingest_and_process(rt, src)

    assert result.outcome == "new" and result.sha256 == expected_sha
    item = view(rt, result.item_id)
    assert item["sha256"] == expected_sha
    assert item["size_bytes"] == clips["h264"].stat().st_size
    assert item["device_serial"] == "ZFY0001" and item["station_id"] == "ST01"
    assert item["status"] == "ready" and item["proxy_available"] is True and item["error"] is None
    assert item["time_source"] == "container"
    assert item["recorded_start"] == "2026-11-01T08:00:00Z"
    assert item["recorded_end"] == "2026-11-01T08:00:02Z"
    assert item["upload_deadline"] == "2026-11-02T08:00:02Z"
    assert item["on_time"] is False and item["late_by_s"] > 0  # the clip dates from November 1st
    assert item["media"]["video_codec"] == "h264" and item["media"]["audio_codec"] == "aac"
    assert (item["media"]["width"], item["media"]["height"], item["media"]["fps"]) == (320, 240, 25.0)

    # the stored original is byte-identical; the source went to the archive
    with transaction(rt.sessions) as session:
        row = get_item(session, result.item_id)
    assert hashlib.sha256(stored_bytes(rt, row.object_key)).hexdigest() == expected_sha
    assert not src.exists()
    assert (upload / "_archive" / "ZFY0001" / "clip.mp4").read_bytes() == clips["h264"].read_bytes()

    locked = ["lock_applied"] if rt.store.lock_status() == "on" else []  # S3: locked before the release
    assert kinds(rt, result.item_id) == [
        "received",
        "hashed",
        "stored",
        "verified",
        *locked,
        "source_released",
        "probed",
        "times_assessed",
        "attributed",
        "proxy_made",
    ]
    with transaction(rt.sessions) as session:
        assert custody_verify.verify(session).ok


def test_proxy_of_h264_is_a_remux_that_browsers_play(rt, upload, clips, tmp_path):
    result = ingest_and_process(rt, drop(clips["h264"], upload, "ZFY0001/a.mp4"))
    with transaction(rt.sessions) as session:
        row = get_item(session, result.item_id)
    assert row.proxy_method == "remux"
    proxy = tmp_path / "proxy.mp4"
    proxy.write_bytes(stored_bytes(rt, row.proxy_key))
    info = probe(proxy)
    assert (info.video_codec, info.pix_fmt, info.audio_codec) == ("h264", "yuv420p", "aac")
    data = proxy.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat"), "+faststart puts the index first"
    assert stored_bytes(rt, row.poster_key)[:2] == b"\xff\xd8"  # a JPEG


@pytest.mark.parametrize("clip", ["h265", "mjpeg", "tall"])
def test_other_media_is_transcoded_to_browser_h264(rt, upload, clips, tmp_path, clip, make_settings):
    rt.settings = rt.settings.model_copy(update={"proxy_max_height": 320})
    src = drop(clips[clip], upload, f"ZFY0002/{clips[clip].name}")
    result = ingest_and_process(rt, src)
    with transaction(rt.sessions) as session:
        row = get_item(session, result.item_id)
    assert row.status == "ready" and row.proxy_method == "transcode"
    proxy = tmp_path / "proxy.mp4"
    proxy.write_bytes(stored_bytes(rt, row.proxy_key))
    info = probe(proxy)
    assert (info.video_codec, info.pix_fmt) == ("h264", "yuv420p")
    assert info.height <= 320
    assert hashlib.sha256(stored_bytes(rt, row.object_key)).hexdigest() == sha256_of(clips[clip])


def test_worker_transcodes_with_the_configured_thread_bound(make_settings, clips):
    s = make_settings(transcode_threads=1)
    upload = s.points[0].path
    rt = open_runtime(s, "test")
    try:
        result = ingest_and_process(rt, drop(clips["h265"], upload, "ZFY0002/h265.mp4"))
        with transaction(rt.sessions) as session:
            made = [e for e in custody.log_for(session, result.item_id) if e.kind == "proxy_made"]
            assert get_item(session, result.item_id).proxy_method == "transcode"
        args = json.loads(made[0].details)["args"]
        i = args.index("-i")
        assert args[i - 2 : i] == ["-threads", "1"] and args.count("-threads") == 2  # decoder and encoder
    finally:
        rt.close()


def test_mjpeg_without_creation_time_takes_its_time_from_the_name(rt, upload, clips):
    result = ingest_and_process(rt, drop(clips["mjpeg"], upload, f"ZFY0003/{MJPEG_NAME}"))
    item = view(rt, result.item_id)
    assert item["time_source"] == "filename"
    assert item["recorded_start"] == "2026-11-01T08:30:00Z"  # 16:30 Asia/Shanghai
    assert item["recorded_end"] == "2026-11-01T08:30:02Z"
    assert item["media"]["video_codec"] == "mjpeg"


def test_without_container_or_name_time_the_file_mtime_marks_the_end(rt, upload, clips):

    src = drop(clips["mjpeg"], upload, "ZFY0003/plain.avi")
    end = datetime(2026, 11, 20, 3, 0, 0, tzinfo=UTC)
    os.utime(src, (end.timestamp(), end.timestamp()))
    item = view(rt, ingest_and_process(rt, src).item_id)
    assert item["time_source"] == "file_mtime"
    assert item["recorded_end"] == "2026-11-20T03:00:00Z"
    assert item["recorded_start"] == "2026-11-20T02:59:58Z"


def test_truncated_media_is_still_evidence_with_a_recorded_error(rt, upload, clips):
    src = drop(clips["truncated"], upload, "ZFY0001/broken.mp4")
    result = ingest_and_process(rt, src)
    item = view(rt, result.item_id)
    assert item["status"] == "media_error"
    assert "probe" in item["error"] and "moov" in item["error"]
    assert item["sha256"] == sha256_of(clips["truncated"])
    assert item["proxy_available"] is False
    assert item["time_source"] == "file_mtime" and item["upload_deadline"] is not None
    events = kinds(rt, result.item_id)
    assert "verified" in events and "probed" in events and "proxy_made" not in events


def test_zero_byte_file_is_rejected_with_a_reason_and_left_in_place(rt, upload, clips):
    src = drop(clips["zero"], upload, "ZFY0001/empty.mp4")
    result = ingest_file(rt, rt.settings.points[0], src)
    assert result.outcome == "rejected" and "zero-byte" in result.reason
    assert src.exists() and src.stat().st_size == 0
    with transaction(rt.sessions) as session:
        assert session.scalar(select(func.count(Item.id))) == 0
        receipt = session.scalars(select(Receipt)).one()
        assert receipt.outcome == "rejected" and "zero-byte" in receipt.reason
        assert session.scalars(select(CustodyEvent.kind)).all() == ["rejected"]
    # found again by a rescan, it is not rejected twice
    assert ingest_file(rt, rt.settings.points[0], src).outcome == "skipped"


def test_same_content_again_adds_an_event_not_an_item(rt, upload, clips):
    first = ingest_and_process(rt, drop(clips["h264"], upload, "ZFY0001/one.mp4"))
    second = ingest_and_process(rt, drop(clips["h264"], upload, "ZFY0009/copy-of-one.mp4"))
    assert second.outcome == "duplicate" and second.item_id == first.item_id
    with transaction(rt.sessions) as session:
        assert session.scalar(select(func.count(Item.id))) == 1
        dup = [e for e in custody.log_for(session, first.item_id) if e.kind == "duplicate_received"]
        assert len(dup) == 1 and json.loads(dup[0].details)["path"] == "ZFY0009/copy-of-one.mp4"
    assert not (upload / "ZFY0009" / "copy-of-one.mp4").exists()


def test_non_ascii_name(rt, upload, clips):
    src = drop(clips["h264"], upload, "ZFY0001/执法记录 01.mp4")
    item = view(rt, ingest_and_process(rt, src).item_id)
    assert item["original_filename"] == "执法记录 01.mp4"
    assert item["status"] == "ready"


@pytest.mark.parametrize("policy", ["delete", "move", "keep"])
def test_source_policy(make_settings, clips, policy):
    settings = make_settings(source_policy=policy)
    rt = open_runtime(settings, "test")
    try:
        upload = settings.points[0].path
        src = drop(clips["h264"], upload, "ZFY0001/p.mp4")
        result = ingest_file(rt, settings.points[0], src)
        assert result.outcome == "new"
        assert src.exists() is (policy == "keep")
        assert (upload / "_archive" / "ZFY0001" / "p.mp4").exists() is (policy == "move")
        # a kept file is not taken a second time
        if policy == "keep":
            assert ingest_file(rt, settings.points[0], src).outcome == "skipped"
    finally:
        rt.close()


def test_a_crash_between_record_and_release_is_finished_on_the_next_pass(rt, upload, clips):
    src = drop(clips["h264"], upload, "ZFY0001/c.mp4")
    point = rt.settings.points[0]
    # the first half of ingest_file, then "the process dies"

    from ingest.pipeline import arrival_for

    copy = store_and_verify(rt, src, os.stat(src))
    _record(rt, arrival_for(point, src, os.stat(src)), copy, rt.agent())
    assert src.exists()
    again = ingest_file(rt, point, src)
    assert again.outcome == "resumed"
    assert not src.exists()
    with transaction(rt.sessions) as session:
        assert session.scalar(select(func.count(Item.id))) == 1
        assert session.scalar(select(func.count(Receipt.id))) == 1


def test_a_database_outage_between_the_move_and_its_record_puts_the_source_back(
    make_settings, pg_url, clips, monkeypatch
):
    """Left in the archive, nobody would record its release until the next start (and then only as 'gone');
    back in the upload point it is tried again like any failed file, and its release is resumed."""
    from urllib.parse import urlsplit

    from evidence.errors import Unavailable
    from ingest import pipeline
    from tests.servers import TcpForwarder

    port = urlsplit(pg_url).port
    relay = TcpForwarder(("127.0.0.1", port)).start()
    real_archive = pipeline.archive

    def archive_then_outage(path, target, receipt_id):
        moved = real_archive(path, target, receipt_id)
        relay.stop()  # the database goes away right after the move
        return moved

    rt = open_runtime(make_settings(database_url=pg_url.replace(f":{port}/", f":{relay.port}/")), "test")
    try:
        point = rt.settings.points[0]
        src = drop(clips["h264"], point.path, "ZFY0001/m.mp4")
        before = src.stat()
        monkeypatch.setattr(pipeline, "archive", archive_then_outage)
        with pytest.raises(Unavailable):
            ingest_file(rt, point, src)
        after = src.stat()  # back where it was, the same file: its receipt still finds it
        assert (after.st_ino, after.st_size, after.st_mtime_ns) == (before.st_ino, before.st_size, before.st_mtime_ns)
        archived = point.path / rt.settings.archive_dirname / "ZFY0001" / "m.mp4"
        assert not archived.exists()
        monkeypatch.setattr(pipeline, "archive", real_archive)
        relay.start()  # the database is back
        assert ingest_file(rt, point, src).outcome == "resumed"
        assert not src.exists() and archived.read_bytes() == clips["h264"].read_bytes()
        with transaction(rt.sessions) as session:
            (receipt,) = session.scalars(select(Receipt))
            assert receipt.source_disposition == f"moved to {archived}" and receipt.item_id is not None
            released = [e for e in custody.log_for(session, receipt.item_id) if e.kind == "source_released"]
            assert len(released) == 1
    finally:
        rt.close()
        relay.stop()


def test_store_outage_keeps_the_source_and_records_nothing(make_settings, clips):
    from tests.servers import free_port

    settings = make_settings(storage_url=f"s3://k:s@127.0.0.1:{free_port()}/bucket?secure=false")
    rt = open_runtime(settings, "test")
    try:
        src = drop(clips["h264"], settings.points[0].path, "ZFY0001/o.mp4")
        with pytest.raises(StoreUnavailable):
            ingest_file(rt, settings.points[0], src)
        assert src.read_bytes() == clips["h264"].read_bytes()
        with transaction(rt.sessions) as session:
            assert session.scalar(select(func.count(Receipt.id))) == 0
    finally:
        rt.close()


def test_two_ingesters_racing_on_one_file_make_one_item_and_one_receipt(rt, upload, clips):
    import threading

    src = drop(clips["h264"], upload, "ZFY0001/race.mp4")
    results, errors = [], []

    def go():
        try:
            results.append(ingest_file(rt, rt.settings.points[0], src))
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # the loser may only find the file gone (before or while reading it): it backs off, nothing is lost
    assert all(isinstance(e, (InvalidInput, SourceChanged)) for e in errors), errors
    with transaction(rt.sessions) as session:
        assert session.scalar(select(func.count(Item.id))) == 1
        assert session.scalar(select(func.count(Receipt.id))) == 1
        assert session.scalar(select(func.count()).where(CustodyEvent.kind == "source_released")) == 1
        assert custody_verify.verify(session).ok
    assert (upload / "_archive" / "ZFY0001" / "race.mp4").exists()


def test_with_transcoding_off_an_hevc_item_is_complete_without_a_proxy(make_settings, clips):
    settings = make_settings(transcoding=False)
    rt = open_runtime(settings, "test")
    try:
        hevc = ingest_and_process(rt, drop(clips["h265"], settings.points[0].path, "ZFY0001/h.mp4"))
        h264 = ingest_and_process(rt, drop(clips["h264"], settings.points[0].path, "ZFY0001/a.mp4"))
        assert (view(rt, hevc.item_id)["status"], view(rt, hevc.item_id)["proxy_available"]) == ("ready", False)
        assert view(rt, h264.item_id)["proxy_available"] is True  # a remux is not a transcode
        with transaction(rt.sessions) as session:
            (event,) = [e for e in custody.log_for(session, hevc.item_id) if e.kind == "proxy_made"]
        assert event.outcome == "warning" and "transcoding is off" in event.details
    finally:
        rt.close()


class FlippingDisk(FileStore):
    """A folder store whose disk gives back other bytes than it was given (a failing disk or controller)."""

    def write(self, key, reader, length, durable=True):
        super().write(key, reader, length, durable)
        path = self._path(key)
        os.chmod(path, 0o644)
        with open(path, "r+b") as f:
            first = f.read(1)
            f.seek(0)
            f.write(bytes([first[0] ^ 1]))


def test_a_copy_the_disk_gives_back_wrong_is_refused_and_the_source_kept(make_settings, clips):
    settings = make_settings()
    rt = open_runtime(settings, "test")
    try:
        rt.store = FlippingDisk(rt.store.root)
        src = drop(clips["h264"], settings.points[0].path, "ZFY0001/rot.mp4")
        with pytest.raises(IntegrityFailure, match="does not match its source"):
            ingest_file(rt, settings.points[0], src)
        assert src.read_bytes() == clips["h264"].read_bytes()
        # the bad copy was never linked under its content key, and its staged file is gone
        assert list(rt.store.list_keys("")) == []
        with transaction(rt.sessions) as session:
            assert session.scalar(select(func.count(Receipt.id))) == 0

        rt.store = FileStore(rt.store.root)  # the disk replaced: the same file goes in whole
        result = ingest_file(rt, settings.points[0], src)
        assert result.outcome == "new" and result.sha256 == hashlib.sha256(clips["h264"].read_bytes()).hexdigest()
        with transaction(rt.sessions) as session:
            verified = [e for e in custody.log_for(session, result.item_id) if e.kind == "verified"]
            assert "as it was flushed there" in json.loads(verified[0].details)["method"]
    finally:
        rt.close()


def test_a_store_that_fails_after_the_copy_keeps_no_staged_copy_and_the_source(make_settings, clips):
    settings = make_settings()
    rt = open_runtime(settings, "test")
    try:
        store = rt.ready_store()
        (store.root / "originals").write_bytes(b"")  # the content keys' folder cannot be made: a broken disk layout
        src = drop(clips["h264"], settings.points[0].path, "ZFY0001/k.mp4")
        with pytest.raises(StoreUnavailable):
            ingest_file(rt, settings.points[0], src)
        assert src.read_bytes() == clips["h264"].read_bytes()
        assert list(store.list_keys("incoming/")) == []  # gone at once, not left for the next start's sweep
        with transaction(rt.sessions) as session:
            assert session.scalar(select(func.count(Receipt.id))) == 0
    finally:
        rt.close()
