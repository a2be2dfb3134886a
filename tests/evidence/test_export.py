"""Export building blocks on their own: streaming copy with constant memory, the tar stream, names."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from evidence import export
from evidence.adapters.filestore import FileStore
from evidence.errors import IntegrityFailure

MB = 1024 * 1024


def test_payload_is_streamed_with_memory_independent_of_its_size(tmp_path):
    store = FileStore(tmp_path / "objects")
    store.ensure_ready()
    source = tmp_path / "big.bin"
    with open(source, "wb") as f:
        for _ in range(48):
            f.write(os.urandom(MB))
    expected = hashlib.sha256(source.read_bytes()).hexdigest()
    store.put_file("originals/big", source)
    seen: list[int] = []
    meter = export._Meter(48 * MB, lambda what, done, total: seen.append(done))
    tracemalloc.start()
    try:
        sha, size = export._copy(store, "originals/big", tmp_path / "bag/data/big.bin", meter, "big.bin")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (sha, size) == (expected, 48 * MB)
    assert peak < 20 * MB, f"copying 48 MB held {peak / MB:.1f} MB at once"
    assert seen[-1] == 48 * MB and len(seen) > 1  # progress as it goes


def test_tar_stream_is_a_tar_of_the_folder(tmp_path):
    bag = tmp_path / "bag"
    (bag / "data/originals").mkdir(parents=True)
    (bag / "data/originals/a.mp4").write_bytes(b"a" * 1000)
    (bag / "bagit.txt").write_text("BagIt-Version: 1.0\n")
    (bag / "empty.txt").write_bytes(b"")
    chunks = list(export.tar_stream(bag, "C-1-export-1", chunk=256))
    assert max(len(c) for c in chunks) <= 1024
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks)), mode="r:") as tar:
        names = tar.getnames()
        assert "C-1-export-1/data/originals/a.mp4" in names and "C-1-export-1/empty.txt" in names
        assert tar.extractfile("C-1-export-1/data/originals/a.mp4").read() == b"a" * 1000


def test_payload_names_are_readable_and_safe():
    item = SimpleNamespace(
        id=7,
        recorded_start=datetime(2026, 11, 1, 8, 0, 5, tzinfo=UTC),
        device_serial="ZFY/../0001 执法",
        original_filename="clip.MP4",
    )
    assert export.payload_name(item, ZoneInfo("Asia/Shanghai")) == "2026-11-01_160005+0800_ZFY-0001_7.mp4"
    item.recorded_start, item.device_serial, item.original_filename = None, None, "noext"
    assert export.payload_name(item, ZoneInfo("Asia/Shanghai")) == "unknown-time_no-device_7.bin"


def _stored(tmp_path, sizes: list[int]) -> tuple[FileStore, list[tuple[str, bytes]]]:
    store = FileStore(tmp_path / "objects")
    store.ensure_ready()
    stored = []
    for i, size in enumerate(sizes):
        data = os.urandom(size)
        source = tmp_path / f"in{i}.bin"
        source.write_bytes(data)
        store.put_file(f"originals/{i}", source)
        stored.append((f"originals/{i}", data))
    return store, stored


def _member(i: int, sha256: str, size: int) -> export.Member:
    return export.Member(
        item_id=i,
        sha256=sha256,
        size=size,
        object_key=f"originals/{i}",
        path=f"data/originals/{i}.mp4",
        role="original",
        derived_from=None,
        device=None,
        original_filename=f"{i}.mp4",
        recorded_start=None,
        recorded_end=None,
        clip_start_s=None,
        clip_end_s=None,
        proxy_key=None,
        proxy_path=None,
        clip_tool=None,
        clip_args=[],
    )


def test_payload_is_copied_by_the_kernel_and_hashed_as_written(tmp_path):
    """Several files at once from a folder store: each lands bit for bit, with the hash of what landed."""
    store, stored = _stored(tmp_path, [5 * MB + 3, 0, 1, 3 * MB])
    files = [(key, f"data/originals/{i}.mp4") for i, (key, _) in enumerate(stored)]
    expect = {
        rel: _member(i, hashlib.sha256(d).hexdigest(), len(d))
        for i, ((_, d), (_, rel)) in enumerate(zip(stored, files, strict=True))
    }
    meter = export._Meter(sum(len(d) for _, d in stored), None)
    found = export._copy_payload(store, tmp_path / "bag", files, meter, expect)
    assert found == [(hashlib.sha256(d).hexdigest(), len(d)) for _, d in stored]
    for (_, data), (_, rel) in zip(stored, files, strict=True):
        assert (tmp_path / "bag" / rel).read_bytes() == data
    assert meter.done == meter.total


def test_a_stored_original_that_no_longer_matches_stops_the_export(tmp_path):
    store, stored = _stored(tmp_path, [2 * MB, 2 * MB])
    files = [(key, f"data/originals/{i}.mp4") for i, (key, _) in enumerate(stored)]
    good = hashlib.sha256(stored[0][1]).hexdigest()
    expect = {files[0][1]: _member(0, good, 2 * MB), files[1][1]: _member(1, "0" * 64, 2 * MB)}
    with pytest.raises(IntegrityFailure, match=r"item 1: the stored original reads as sha256"):
        export._copy_payload(store, tmp_path / "bag", files, export._Meter(4 * MB, None), expect)


def test_copy_falls_back_to_streaming_across_file_systems(tmp_path):
    """copy_file_range refuses another file system (EXDEV): the bytes are copied by hand instead."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("needs /dev/shm on a file system of its own")
    source = tmp_path / "src.bin"
    data = os.urandom(3 * MB + 5)
    source.write_bytes(data)
    dest = shm / f"evidence-test-{os.getpid()}-{tmp_path.name}.bin"
    try:
        export._kernel_copy(source, dest)
        assert dest.read_bytes() == data
    finally:
        dest.unlink(missing_ok=True)


def test_payload_from_a_store_without_local_files_is_hashed_while_streamed(tmp_path):
    store, stored = _stored(tmp_path, [3 * MB + 1])
    store.description = "s3://bucket"  # the streaming path, as for S3, read from a real store
    sha, size = export._copy(store, stored[0][0], tmp_path / "bag/x.bin", export._Meter(0, None), "x")
    assert (sha, size) == (hashlib.sha256(stored[0][1]).hexdigest(), len(stored[0][1]))
    assert (tmp_path / "bag/x.bin").read_bytes() == stored[0][1]


def test_hashing_a_written_file_mapped_or_read_gives_its_sha256(tmp_path):
    for size in (0, 1, 8 * MB, 8 * MB + 7):
        path = tmp_path / f"f{size}"
        data = os.urandom(size)
        path.write_bytes(data)
        expected = (hashlib.sha256(data).hexdigest(), size)
        meter = export._Meter(size, None)
        assert export._hash_file(path, meter, "f") == expected and meter.done == size
        with open(path, "rb", buffering=0) as f:  # the path taken where files cannot be mapped
            assert export._hash_read(f, hashlib.sha256(), None, "f") == expected
