"""Both object-store implementations behave the same (the S3 one against a real S3 server)."""

from __future__ import annotations

import io
import logging
import os
from datetime import UTC, datetime, timedelta

import pytest
from minio.error import S3Error

from evidence.adapters.filestore import FileStore
from evidence.adapters.s3store import PART_SIZE
from evidence.errors import ObjectExists, StoreUnavailable
from evidence.objectstore import LOCK_OFF, LOCK_ON, LOCK_UNSUPPORTED, LockResult
from storage_config.provision import lock_report, open_store, provision


@pytest.fixture(params=["file", "s3"])
def store(request, make_settings):
    url = {} if request.param == "file" else {"storage_url": request.getfixturevalue("moto").url()}
    s = open_store(make_settings(**url))
    provision(s)
    return s


def put(store, key, data: bytes):
    store.write(key, io.BytesIO(data), len(data))


def test_write_read_range_size_delete(store):
    put(store, "a/b/c", b"0123456789")
    assert store.size("a/b/c") == 10
    assert b"".join(store.iter_chunks("a/b/c")) == b"0123456789"
    assert b"".join(store.iter_chunks("a/b/c", start=3, length=4)) == b"3456"
    assert store.size("missing") is None
    store.delete("a/b/c")
    assert store.size("a/b/c") is None
    store.delete("a/b/c")  # absent is not an error


def test_a_write_left_to_flush_later_is_whole_and_read_only_once_synced(store):
    store.write("incoming/late", io.BytesIO(b"flushed later"), 13, durable=False)
    store.sync("incoming/late")
    assert b"".join(store.iter_chunks("incoming/late")) == b"flushed later"
    if store.local:
        assert (store.root / "incoming/late").stat().st_mode & 0o222 == 0
        with pytest.raises(FileNotFoundError):
            store.sync("incoming/never-written")


def test_move_renames_and_drops_source_when_target_exists(store):
    put(store, "incoming/1", b"x")
    store.move("incoming/1", "final/x")
    assert store.size("incoming/1") is None and store.size("final/x") == 1
    put(store, "incoming/2", b"x")
    store.move("incoming/2", "final/x")
    assert store.size("incoming/2") is None and store.size("final/x") == 1


def test_local_path_and_put_file(store, tmp_path):
    src = tmp_path / "f.bin"
    src.write_bytes(b"hello")
    store.put_file("derived/f", src)
    with store.local_path("derived/f") as path:
        assert path.read_bytes() == b"hello"
    assert [k for k, _ in store.list_keys("derived/")] == ["derived/f"]


def test_provisioning_is_idempotent(store):
    provision(store)
    provision(store)
    if not isinstance(store, FileStore):
        assert store.versioning_enabled()


def test_large_object_goes_up_in_parts(make_settings, moto):
    store = open_store(make_settings(storage_url=moto.url()))
    provision(store)
    data = os.urandom(PART_SIZE * 2 + 1234)
    put(store, "big", data)
    assert store.size("big") == len(data)
    assert b"".join(store.iter_chunks("big")) == data
    stat = store.client.stat_object(bucket_name=store.bucket, object_name="big")
    assert stat.etag.endswith("-3"), "a multipart upload's ETag counts its parts"


def test_file_store_originals_are_read_only(make_settings):
    store = open_store(make_settings())
    provision(store)
    put(store, "originals/x", b"evidence")
    assert not os.stat(store.root / "originals/x").st_mode & 0o222


def test_unreachable_s3_is_store_unavailable(make_settings):
    from tests.servers import free_port

    store = open_store(make_settings(storage_url=f"s3://k:s@127.0.0.1:{free_port()}/b?secure=false"))
    with pytest.raises(StoreUnavailable):
        provision(store)


def test_discard_partial_drops_old_staging_files_only(store):
    staging = store.staging_dir()
    staging.mkdir(parents=True, exist_ok=True)
    old, fresh = staging / "crashed.part", staging / "in-use.get"
    old.write_bytes(b"half")
    fresh.write_bytes(b"busy")
    os.utime(old, (0, 0))
    assert store.discard_partial(3600) == 1
    assert not old.exists() and fresh.read_bytes() == b"busy"


# -- write-once: no key takes other bytes; object lock on S3 ---------------------------------------


def test_a_key_never_takes_other_bytes_but_the_same_bytes_are_fine(store):
    put(store, "originals/k", b"evidence")
    put(store, "originals/k", b"evidence")  # content-addressed: a duplicate is a no-op
    if isinstance(store, FileStore):
        with pytest.raises(ObjectExists):
            put(store, "originals/k", b"tampered")
        with pytest.raises(ObjectExists):
            put(store, "originals/k", b"evidencE")  # same size, other bytes
        assert b"".join(store.iter_chunks("originals/k")) == b"evidence"
        assert list(store.staging_dir().iterdir()) == []  # the refused copy is not left behind


def test_moving_onto_a_key_with_other_bytes_is_refused_by_the_folder_store(make_settings):
    store = open_store(make_settings())
    provision(store)
    put(store, "originals/k", b"evidence")
    put(store, "incoming/1", b"evidence")
    store.move("incoming/1", "originals/k")
    assert store.size("incoming/1") is None
    put(store, "incoming/2", b"tampered")
    with pytest.raises(ObjectExists):
        store.move("incoming/2", "originals/k")
    assert b"".join(store.iter_chunks("originals/k")) == b"evidence"


def test_derived_files_are_remade_in_place(store, tmp_path):
    src = tmp_path / "proxy.mp4"
    src.write_bytes(b"first proxy")
    store.put_file("derived/ab/x/proxy.mp4", src)
    src.write_bytes(b"second proxy, made again")
    store.put_file("derived/ab/x/proxy.mp4", src)
    assert b"".join(store.iter_chunks("derived/ab/x/proxy.mp4")) == b"second proxy, made again"


def test_records_are_write_once_in_both_stores(store):
    store.put_record("checkpoints/1", b"signed note")
    store.put_record("checkpoints/1", b"signed note")
    with pytest.raises(ObjectExists):
        store.put_record("checkpoints/1", b"another note")
    assert store.read_record("checkpoints/1") == b"signed note"


def test_the_folder_store_says_it_cannot_lock(make_settings):
    store = open_store(make_settings())
    provision(store)
    put(store, "originals/x", b"evidence")
    assert store.lock_status() == LOCK_UNSUPPORTED
    assert store.retain("originals/x", datetime.now(UTC) + timedelta(days=1)) == LockResult(supported=False)
    assert store.legal_hold("originals/x", True) == LockResult(supported=False)
    assert lock_report(store) == {"object_lock": "unsupported", "warning": None}


@pytest.fixture
def s3(make_settings, moto):
    s = open_store(make_settings(storage_url=moto.url()))
    provision(s)
    return s


def lock_headers(store, key, version_id=None) -> dict:
    stat = store.client.stat_object(bucket_name=store.bucket, object_name=key, version_id=version_id)
    return {k.lower(): v for k, v in stat.metadata.items() if k.lower().startswith("x-amz-object-lock")}


def test_a_new_bucket_is_made_with_object_lock(s3):
    assert s3.lock_status() == LOCK_ON
    assert s3.client.get_object_lock_config(bucket_name=s3.bucket) is not None
    assert s3.versioning_enabled()
    assert lock_report(s3) == {"object_lock": "on", "warning": None}


def test_an_existing_bucket_without_lock_is_used_with_a_warning(make_settings, moto, caplog):
    store = open_store(make_settings(storage_url=moto.url()))
    store.client.make_bucket(bucket_name=store.bucket)  # made elsewhere, before: no object lock
    with caplog.at_level(logging.WARNING, logger="evidence.adapters.s3store"):
        provision(store)
    assert store.lock_status() == LOCK_OFF
    assert any("has no object lock" in r.getMessage() for r in caplog.records)
    assert "has no object lock" in (lock_report(store)["warning"] or "")
    put(store, "originals/x", b"evidence")  # the system keeps working, without locks
    assert store.retain("originals/x", datetime.now(UTC) + timedelta(days=1)) == LockResult(supported=False)
    store.put_record("checkpoints/1", b"note")
    assert lock_headers(store, "checkpoints/1") == {}
    store.delete("originals/x")
    assert store.size("originals/x") is None


def test_a_retained_original_cannot_be_deleted_nor_its_locked_version_replaced(s3):
    put(s3, "originals/x", b"evidence")
    until = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    result = s3.retain("originals/x", until)
    assert (result.supported, result.mode, result.until) == (True, "COMPLIANCE", until)
    assert lock_headers(s3, "originals/x") == {
        "x-amz-object-lock-mode": "COMPLIANCE",
        "x-amz-object-lock-retain-until-date": until.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
    }
    with pytest.raises(StoreUnavailable, match="AccessDenied"):
        s3.delete("originals/x")  # the sweeper's delete: every version of the key
    assert b"".join(s3.iter_chunks("originals/x")) == b"evidence"
    # a PUT to the same key only adds a version: the locked one cannot then be removed, and stays as it was
    s3.client.put_object(bucket_name=s3.bucket, object_name="originals/x", data=io.BytesIO(b"forged"), length=6)
    with pytest.raises(S3Error, match="AccessDenied"):
        s3.client.remove_object(bucket_name=s3.bucket, object_name="originals/x", version_id=result.version_id)
    locked = s3.client.get_object(bucket_name=s3.bucket, object_name="originals/x", version_id=result.version_id)
    try:
        assert locked.read() == b"evidence"
    finally:
        locked.close()
        locked.release_conn()


def test_retention_is_extended_and_never_shortened_by_the_store(s3):
    put(s3, "originals/x", b"evidence")
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    s3.retain("originals/x", soon)
    later = s3.retain("originals/x", soon + timedelta(days=30))
    assert later.until == soon + timedelta(days=30)
    again = s3.retain("originals/x", soon)  # a shorter date asked: the longer one stays (not sent at all)
    assert again.until == soon + timedelta(days=30)
    assert lock_headers(s3, "originals/x")["x-amz-object-lock-retain-until-date"].startswith(
        (soon + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%S")
    )


def test_governance_mode_when_configured(make_settings, moto):
    store = open_store(make_settings(storage_url=moto.url(), lock_mode="GOVERNANCE"))
    provision(store)
    put(store, "originals/x", b"evidence")
    result = store.retain("originals/x", datetime.now(UTC) + timedelta(days=1))
    assert result.mode == "GOVERNANCE"
    assert lock_headers(store, "originals/x")["x-amz-object-lock-mode"] == "GOVERNANCE"


def test_a_legal_hold_refuses_deletion_until_taken_off(s3):
    put(s3, "originals/x", b"evidence")
    held = s3.legal_hold("originals/x", True)
    assert (held.legal_hold, held.mode, held.until) == (True, None, None)
    with pytest.raises(StoreUnavailable, match="AccessDenied"):
        s3.delete("originals/x")
    assert s3.legal_hold("originals/x", False).legal_hold is False
    s3.delete("originals/x")
    assert s3.size("originals/x") is None


def test_a_record_is_retained_for_a_hundred_years(s3):
    s3.put_record("checkpoints/1", b"signed note")
    headers = lock_headers(s3, "checkpoints/1")
    assert headers["x-amz-object-lock-mode"] == "COMPLIANCE"
    until = datetime.strptime(headers["x-amz-object-lock-retain-until-date"], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert until.year >= datetime.now(UTC).year + 99
    s3.put_record("checkpoints/1", b"signed note")  # again: nothing changes
    assert lock_headers(s3, "checkpoints/1") == headers
    with pytest.raises(StoreUnavailable, match="AccessDenied"):
        s3.delete("checkpoints/1")


def test_a_record_stored_before_a_crash_gets_its_lock_when_stored_again(s3):
    put(s3, "checkpoints/2", b"note")  # uploaded, then the process died before the retention call
    assert lock_headers(s3, "checkpoints/2") == {}
    s3.put_record("checkpoints/2", b"note")
    assert lock_headers(s3, "checkpoints/2")["x-amz-object-lock-mode"] == "COMPLIANCE"


def test_locking_a_missing_object_is_a_store_error(s3):
    with pytest.raises(StoreUnavailable, match="no such object"):
        s3.retain("originals/absent", datetime.now(UTC) + timedelta(days=1))


def test_writing_from_a_regular_file_takes_exactly_its_bytes_from_where_it_is_read(store, tmp_path):
    """The folder store copies a file in the kernel, S3 streams it: the same bytes either way, the same
    offset left behind, and a source shorter than announced is refused, never stored short."""
    source = tmp_path / "source.bin"
    data = os.urandom(3 * 1024 * 1024 + 17)
    source.write_bytes(data)
    with open(source, "rb") as f:
        f.seek(5)
        store.write("a/from-a-file", f, len(data) - 10)
        assert f.tell() == len(data) - 5  # past what was taken, as a read would leave it
    assert b"".join(store.iter_chunks("a/from-a-file")) == data[5:-5]
    assert store.local == isinstance(store, FileStore)
    with open(source, "rb") as f, pytest.raises(StoreUnavailable, match="early|not enough data"):
        store.write("a/short", f, len(data) + 1)
    assert store.size("a/short") is None
