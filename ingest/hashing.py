"""SHA-256 on a second thread, so hashing overlaps the reads and writes around it.

hashlib releases the GIL on large buffers: while the hash thread digests chunk
n, the caller reads or writes chunk n+1. Order is kept by waiting for the
previous chunk before handing over the next (at most two chunks in memory).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO


class Sha256Pipe:
    """Feed chunks in order; ``hexdigest`` waits for the last one."""

    def __init__(self) -> None:
        self._sha = hashlib.sha256()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="sha256")
        self._pending: Future | None = None
        self.count = 0

    def feed(self, data: bytes) -> None:
        if self._pending is not None:
            self._pending.result()
        self._pending = self._pool.submit(self._sha.update, data)
        self.count += len(data)

    def hexdigest(self) -> str:
        if self._pending is not None:
            self._pending.result()
            self._pending = None
        return self._sha.hexdigest()

    def close(self) -> None:
        """Stop the hash thread; safe to call more than once."""
        self._pool.shutdown(wait=True)


class HashingReader:
    """Wraps a file so whatever reads it (the store) also feeds the hash: one pass over the bytes."""

    def __init__(self, raw: BinaryIO, on_bytes: Callable[[int], None] | None = None):
        self.raw = raw
        self.sha = Sha256Pipe()
        self.on_bytes = on_bytes

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        if data:
            self.sha.feed(data)
            if self.on_bytes:
                self.on_bytes(len(data))
        return data


def sha256_of(chunks: Iterable[bytes]) -> tuple[str, int]:
    """Hex SHA-256 and byte count of a stream of chunks."""
    pipe = Sha256Pipe()
    try:
        for chunk in chunks:
            pipe.feed(chunk)
        return pipe.hexdigest(), pipe.count
    finally:
        pipe.close()
