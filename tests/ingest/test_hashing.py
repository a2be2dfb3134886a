import hashlib
import io
import os
import threading

from ingest.hashing import HashingReader, sha256_of


def test_pipe_matches_hashlib_over_many_chunks():
    chunks = [os.urandom(n) for n in (0, 1, 4096, 3 * 1024 * 1024, 17)]
    digest, count = sha256_of(iter(chunks))
    assert digest == hashlib.sha256(b"".join(chunks)).hexdigest() and count == sum(map(len, chunks))


def test_reader_hashes_what_is_read_and_reports_progress():
    data = os.urandom(5 * 1024 * 1024 + 3)
    seen = []
    reader = HashingReader(io.BytesIO(data), seen.append)
    out = b"".join(iter(lambda: reader.read(1024 * 1024), b""))
    try:
        assert out == data and sum(seen) == len(data)
        assert reader.sha.hexdigest() == hashlib.sha256(data).hexdigest()
    finally:
        reader.sha.close()


def test_no_hash_threads_outlive_their_use():
    before = threading.active_count()
    for _ in range(5):
        sha256_of([b"x" * 10000])
    assert threading.active_count() == before
