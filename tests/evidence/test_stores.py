"""Both object-store implementations behave the same (the S3 one against a real S3 server)."""

from __future__ import annotations

import io
import os

import pytest

from evidence.adapters.filestore import FileStore
from evidence.adapters.s3store import PART_SIZE
from evidence.errors import StoreUnavailable
from storage_config.provision import open_store, provision


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
