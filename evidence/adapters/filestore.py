"""Object store on a local folder: the embedded default.

Objects are plain files under ``root``; each is written to a staging file,
fsynced and linked into place, so a crash never leaves a half object under a
real key. Objects are read-only once in place, and a key is never given other
bytes (ObjectExists): the hard link fails when the key exists, so two writers
cannot race past that check. Derived files alone are replaced (renamed over).
A folder has no object lock: ``retain`` and ``legal_hold`` say so.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from evidence.errors import ObjectExists, StoreUnavailable
from evidence.objectstore import CHUNK, LOCK_UNSUPPORTED, UNSUPPORTED, LockResult, Readable, replaceable, sweep_folder

STAGING = ".staging"
# file systems without hard links (some network and FUSE mounts): check, then rename
NO_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS}


def _same_bytes(a: Path, b: Path) -> bool:
    if a.stat().st_size != b.stat().st_size:
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            chunk = fa.read(CHUNK)
            if chunk != fb.read(CHUNK):
                return False
            if not chunk:
                return True


def _fsync(path: Path) -> None:
    """Flush a file's bytes, or a folder's entries, to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


NO_KERNEL_COPY = {errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL, errno.EPERM, errno.EBADF}


def _kernel_copy(reader: Readable, out: BinaryIO, length: int) -> int:
    """Copy up to ``length`` bytes of a regular file in the kernel (``copy_file_range``: no pass through
    this process's memory); how many were copied, 0 when ``reader`` is not a plain file or the kernel
    cannot (across file systems, old kernels): the caller streams the rest."""
    fileno = getattr(reader, "fileno", None)
    if fileno is None or not hasattr(os, "copy_file_range"):
        return 0
    try:
        fd = fileno()
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return 0
        start = os.lseek(fd, 0, os.SEEK_CUR)
    except (OSError, ValueError):  # io.UnsupportedOperation: an in-memory stream
        return 0
    done = 0
    try:
        while done < length:
            n = os.copy_file_range(fd, out.fileno(), min(length - done, 1 << 30), start + done)
            if n == 0:
                break  # the source ended early: the streaming loop says so
            done += n
    except OSError as exc:
        if exc.errno not in NO_KERNEL_COPY:
            raise
        out.seek(0)
        out.truncate()
        return 0
    os.lseek(fd, start + done, os.SEEK_SET)  # the source's offset is left past what was copied
    return done


class FileStore:
    """Objects as files below one folder."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.description = f"file://{self.root}"
        self.local = True

    def _path(self, key: str) -> Path:
        if key.startswith("/") or ".." in key.split("/"):
            raise ValueError(f"bad object key {key!r}")
        return self.root / key

    def ensure_ready(self) -> None:
        try:
            (self.root / STAGING).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(f"cannot create store folder {self.root}: {exc}") from exc

    def staging_dir(self) -> Path:
        return self.root / STAGING

    def _place(self, tmp: Path, key: str, durable: bool = True) -> None:
        """Put ``tmp`` (consumed) at ``key``: a key already holding the same bytes keeps them,
        one holding other bytes is refused (ObjectExists), unless it is a derived file."""
        final = self._path(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(tmp, 0o444)
        if replaceable(key):
            os.rename(tmp, final)
        else:
            try:
                os.link(tmp, final)  # fails when the key exists: never replaces, unlike rename
            except FileExistsError:
                self._keep_existing(tmp, final, key)
                return
            except OSError as exc:
                if exc.errno not in NO_LINKS:
                    raise
                if final.exists():
                    self._keep_existing(tmp, final, key)
                    return
                os.rename(tmp, final)
            else:
                tmp.unlink()
        if durable:
            _fsync(final.parent)

    def _keep_existing(self, tmp: Path, final: Path, key: str) -> None:
        same = _same_bytes(tmp, final)
        tmp.unlink()
        if not same:
            raise ObjectExists(f"{key} already holds other bytes in {self.root}: a stored object is never overwritten")

    def write(self, key: str, reader: Readable, length: int, durable: bool = True) -> None:
        tmp = self.staging_dir() / f"{uuid.uuid4().hex}.part"
        try:
            with open(tmp, "wb") as out:
                copied = _kernel_copy(reader, out, length)
                remaining = length - copied
                while remaining > 0:
                    chunk = reader.read(min(CHUNK, remaining))
                    if not chunk:
                        raise StoreUnavailable(f"source ended {remaining} bytes early while storing {key}")
                    out.write(chunk)
                    remaining -= len(chunk)
                out.flush()
                if durable:
                    os.fsync(out.fileno())
            self._place(tmp, key, durable)
        except OSError as exc:
            raise StoreUnavailable(f"writing {key} to {self.root}: {exc}") from exc
        finally:
            tmp.unlink(missing_ok=True)

    def sync(self, key: str) -> None:
        path = self._path(key)
        try:
            _fsync(path)
            _fsync(path.parent)
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise StoreUnavailable(f"flushing {key} to disk: {exc}") from exc

    def put_file(self, key: str, path: Path, durable: bool = True) -> None:
        path = Path(path)
        try:
            if path.parent == self.staging_dir():
                if durable:
                    _fsync(path)
                self._place(path, key, durable)
            else:
                with open(path, "rb") as f:
                    self.write(key, f, os.fstat(f.fileno()).st_size)
        except OSError as exc:
            raise StoreUnavailable(f"storing {key}: {exc}") from exc

    def move(self, src: str, dst: str) -> None:
        source = self._path(src)
        try:
            self._place(source, dst)
        except OSError as exc:
            raise StoreUnavailable(f"moving {src} to {dst}: {exc}") from exc

    def size(self, key: str) -> int | None:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreUnavailable(f"stat {key}: {exc}") from exc

    def iter_chunks(self, key: str, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        try:
            with open(self._path(key), "rb") as f:
                f.seek(start)
                remaining = length
                while remaining is None or remaining > 0:
                    chunk = f.read(CHUNK if remaining is None else min(CHUNK, remaining))
                    if not chunk:
                        break
                    if remaining is not None:
                        remaining -= len(chunk)
                    yield chunk
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise StoreUnavailable(f"reading {key}: {exc}") from exc

    @contextlib.contextmanager
    def local_path(self, key: str) -> Iterator[Path]:
        path = self._path(key)
        if not path.exists():
            raise FileNotFoundError(key)
        yield path

    def tool_input(self, key: str, valid_s: float) -> str:
        path = self._path(key)
        if not path.exists():
            raise FileNotFoundError(key)
        return str(path)  # the stored file itself: tools read it in place

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            if path.exists():
                os.chmod(path, 0o644)
                path.unlink()
        except OSError as exc:
            raise StoreUnavailable(f"deleting {key}: {exc}") from exc

    def list_keys(self, prefix: str) -> Iterator[tuple[str, float]]:
        base = self._path(prefix.rstrip("/")) if prefix else self.root
        if not base.exists():
            return
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if d != STAGING]
            for name in filenames:
                full = Path(dirpath) / name
                yield full.relative_to(self.root).as_posix(), full.stat().st_mtime

    def put_record(self, key: str, data: bytes) -> None:
        tmp = self.staging_dir() / f"{uuid.uuid4().hex}.part"
        try:
            tmp.write_bytes(data)
            self._place(tmp, key)
        except OSError as exc:
            raise StoreUnavailable(f"writing {key} to {self.root}: {exc}") from exc
        finally:
            tmp.unlink(missing_ok=True)

    def read_record(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise StoreUnavailable(f"reading {key}: {exc}") from exc

    def discard_partial(self, older_than_s: float) -> int:
        return sweep_folder(self.staging_dir(), older_than_s)

    def lock_status(self) -> str:
        return LOCK_UNSUPPORTED

    def retain(self, key: str, until: datetime) -> LockResult:
        return UNSUPPORTED  # read-only files are all a folder offers: root can still change them

    def legal_hold(self, key: str, on: bool) -> LockResult:
        return UNSUPPORTED
