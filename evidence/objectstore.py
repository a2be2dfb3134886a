"""The object-store interface: the one way the domain touches stored bytes.

Two implementations: ``FileStore`` (a local folder; the embedded default) and
``S3Store`` (any S3 server through the minio SDK). Keys are ``/``-separated.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

CHUNK = 8 * 1024 * 1024


def sweep_folder(folder: Path, older_than_s: float) -> int:
    """Remove the files in ``folder`` not modified for ``older_than_s`` seconds; returns how many went."""
    cutoff = time.time() - older_than_s
    dropped = 0
    if not folder.is_dir():
        return 0
    for path in folder.iterdir():
        with contextlib.suppress(FileNotFoundError):  # another process may sweep or finish it meanwhile
            if path.is_file() and path.lstat().st_mtime < cutoff:
                path.unlink()
                dropped += 1
    return dropped


def original_key(sha256: str) -> str:
    """Content-addressed key of an original."""
    return f"originals/sha256/{sha256[:2]}/{sha256[2:4]}/{sha256}"


def derived_key(sha256: str, name: str) -> str:
    """Key of a file derived from an original (proxy, poster)."""
    return f"derived/{sha256[:2]}/{sha256}/{name}"


class Readable(Protocol):
    """What ``write`` reads from: a file, or a wrapper that hashes what passes through it."""

    def read(self, n: int = -1, /) -> bytes: ...


class ObjectStore(Protocol):
    """Small, complete set of operations the system needs from storage."""

    description: str

    def ensure_ready(self) -> None:
        """Create the bucket/folder if needed and enable versioning; idempotent."""

    def write(self, key: str, reader: Readable, length: int) -> None:
        """Stream ``length`` bytes from ``reader`` to ``key`` (multipart when large)."""

    def put_file(self, key: str, path: Path, durable: bool = True) -> None:
        """Store a local file at ``key``; the file may be consumed (moved).

        ``durable=False`` skips fsync where the store has a choice: for derived files,
        which can be made again from the original.
        """

    def move(self, src: str, dst: str) -> None:
        """Rename ``src`` to ``dst``; when ``dst`` already exists, ``src`` is dropped."""

    def size(self, key: str) -> int | None:
        """Size of the object, or None when absent."""

    def iter_chunks(self, key: str, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        """Stream the object (or a byte range of it)."""

    def local_path(self, key: str) -> contextlib.AbstractContextManager[Path]:
        """A path on local disk holding the object, for tools such as ffmpeg."""

    def staging_dir(self) -> Path:
        """A local folder for files about to be stored (same disk as the store, when local)."""

    def discard_partial(self, older_than_s: float) -> int:
        """Drop local staging files older than ``older_than_s`` (a crash's leftovers); returns how many."""

    def delete(self, key: str) -> None:
        """Remove the object; absent is not an error."""

    def list_keys(self, prefix: str) -> Iterator[tuple[str, float]]:
        """Keys under ``prefix`` with their modification time (epoch seconds)."""

    def put_record(self, key: str, data: bytes) -> None:
        """Store a small write-once record (a signed checkpoint) at a new ``key``; never overwrites."""

    def read_record(self, key: str) -> bytes:
        """The bytes of a small record; FileNotFoundError when absent."""
