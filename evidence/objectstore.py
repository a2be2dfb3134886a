"""The object-store interface: the one way the domain touches stored bytes.

Two implementations: ``FileStore`` (a local folder; the embedded default) and
``S3Store`` (any S3 server through the minio SDK). Keys are ``/``-separated.

Write-once: no key is ever given different bytes (``ObjectExists``), except derived files (proxy,
poster), which are made again from their original and replace the old copy. Where the store has
object lock (S3 with a bucket created with it), originals get a retention date and legal holds
through ``retain`` and ``legal_hold`` (evidence/object_lock.py decides which); elsewhere those
report ``supported=False``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

CHUNK = 8 * 1024 * 1024

# What ``lock_status`` answers
LOCK_ON = "on"  # the bucket has object lock: retention and legal holds are enforced by the server
LOCK_OFF = "off"  # an S3 bucket created without object lock: nothing can be locked in it
LOCK_UNSUPPORTED = "unsupported"  # the folder store: files are read-only, but root can still change them

# Write-once records (signed checkpoints) are retained this long where the store can lock
RECORD_RETENTION = timedelta(days=100 * 365)


@dataclass(frozen=True)
class LockResult:
    """What is now on a stored object after ``retain`` or ``legal_hold``, as the store reports it."""

    supported: bool
    mode: str | None = None  # COMPLIANCE or GOVERNANCE: the retention mode on the object
    until: datetime | None = None  # its retain-until date (None: no retention)
    legal_hold: bool | None = None  # the legal hold, when the call was about it
    version_id: str | None = None  # the object version the lock is on


UNSUPPORTED = LockResult(supported=False)


def replaceable(key: str) -> bool:
    """May ``key`` be given new bytes? Only derived files: they are remade from their original."""
    return key.startswith("derived/")


def _newest_mtime(folder: Path) -> float:
    newest = folder.lstat().st_mtime
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            with contextlib.suppress(FileNotFoundError):
                newest = max(newest, os.lstat(os.path.join(root, name)).st_mtime)
    return newest


def sweep_folder(folder: Path, older_than_s: float) -> int:
    """Remove what in ``folder`` was not modified for ``older_than_s`` seconds (a folder, such as an export
    package being built, only when nothing inside it was either); returns how many went."""
    cutoff = time.time() - older_than_s
    dropped = 0
    if not folder.is_dir():
        return 0
    for path in folder.iterdir():
        with contextlib.suppress(FileNotFoundError):  # another process may sweep or finish it meanwhile
            st = path.lstat()
            if stat.S_ISDIR(st.st_mode):
                if _newest_mtime(path) < cutoff:
                    shutil.rmtree(path, ignore_errors=True)
                    dropped += 1
            elif st.st_mtime < cutoff:
                path.unlink()
                dropped += 1
    return dropped


def is_url(tool_input: str) -> bool:
    """Is this ``tool_input`` a (presigned, secret) URL rather than a local path?"""
    return tool_input.startswith(("http://", "https://"))


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
    # objects are files on this machine's disks (the folder store): ``write`` from a regular file
    # copies in the kernel, so the caller hashes the source on its own read rather than in passing
    local: bool

    def ensure_ready(self) -> None:
        """Create the bucket/folder if needed and enable versioning; idempotent."""

    def write(self, key: str, reader: Readable, length: int, durable: bool = True) -> None:
        """Stream ``length`` bytes from ``reader`` to ``key`` (multipart when large; from a regular file's
        current offset, a local store copies in the kernel). ``durable=False`` leaves the flush to disk
        to a later ``sync`` (S3 acknowledges a write only once it is safe: nothing is left)."""

    def sync(self, key: str) -> None:
        """Make ``key`` durable after a ``write(durable=False)``: the folder store's fsync; nothing on S3."""

    def put_file(self, key: str, path: Path, durable: bool = True) -> None:
        """Store a local file at ``key``; the file may be consumed (moved).

        ``durable=False`` skips fsync where the store has a choice: for derived files,
        which can be made again from the original.
        """

    def move(self, src: str, dst: str) -> None:
        """Rename ``src`` to ``dst``; when ``dst`` already exists, ``src`` is dropped (the folder
        store first checks the two hold the same bytes: ObjectExists if not)."""

    def size(self, key: str) -> int | None:
        """Size of the object, or None when absent."""

    def iter_chunks(self, key: str, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        """Stream the object (or a byte range of it)."""

    def local_path(self, key: str) -> contextlib.AbstractContextManager[Path]:
        """A path on local disk holding the object, for tools such as ffmpeg (S3: a download)."""

    def tool_input(self, key: str, valid_s: float) -> str:
        """What ffmpeg/ffprobe can read the object from without a download: the folder store's file
        path, or on S3 a presigned GET URL valid for ``valid_s`` seconds (read with ranged requests).

        A URL is a bearer credential: never log it or record it (``is_url`` tells the two apart).
        """

    def staging_dir(self) -> Path:
        """A local folder for files about to be stored (same disk as the store, when local)."""

    def discard_partial(self, older_than_s: float) -> int:
        """Drop local staging files older than ``older_than_s`` (a crash's leftovers); returns how many."""

    def delete(self, key: str) -> None:
        """Remove the object; absent is not an error."""

    def list_keys(self, prefix: str) -> Iterator[tuple[str, float]]:
        """Keys under ``prefix`` with their modification time (epoch seconds)."""

    def put_record(self, key: str, data: bytes) -> None:
        """Store a small write-once record (a signed checkpoint) at ``key``, locked where the store can.

        Storing the same bytes again is a no-op; different bytes at an existing key raise ObjectExists.
        """

    def read_record(self, key: str) -> bytes:
        """The bytes of a small record; FileNotFoundError when absent."""

    def lock_status(self) -> str:
        """LOCK_ON, LOCK_OFF (a bucket without object lock) or LOCK_UNSUPPORTED (the folder store)."""

    def retain(self, key: str, until: datetime) -> LockResult:
        """Lock the object's current version until at least ``until``; a longer retention stays."""

    def legal_hold(self, key: str, on: bool) -> LockResult:
        """Put a legal hold on the object's current version (no end date), or take it off."""
