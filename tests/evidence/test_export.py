"""Export building blocks on their own: streaming copy with constant memory, the tar stream, names."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import tracemalloc
from datetime import UTC, datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from evidence import export
from evidence.adapters.filestore import FileStore

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
