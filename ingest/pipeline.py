"""Ingest of one settled file: hash and store in one read, verify, record, release the source.

Order matters for crash safety: the source is released only after the stored
copy is verified and the receipt committed; a receipt without a release is
finished at the next start (``finish_releases``), and a file without a
receipt is simply ingested again (its stored copy, if any, is found by hash).
A source moved to the archive whose release could not be recorded (the
database went away) is put back, and tried again like any file that failed.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import logging
import os
import ssl
import stat
import uuid
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from evidence import intake, object_lock, unit_of_work, uploads
from evidence.errors import (
    EvidenceError,
    IntegrityFailure,
    InvalidInput,
    SourceChanged,
    SourceNotReleased,
    SourceUnreadable,
)
from evidence.intake import Arrival, StoredCopy
from evidence.models import Receipt, utcnow
from evidence.names import on_disk, printable, stored_form
from evidence.objectstore import LOCK_ON, ObjectStore, original_key
from ingest.hashing import HashingReader, sha256_of
from ingest.runtime import Runtime
from ingest.scan import describe, device_serial_for
from storage_config.settings import WEB_STATION, UploadPoint

log = logging.getLogger(__name__)
HASH_TOOL = f"python hashlib sha256 ({ssl.OPENSSL_VERSION})"
HASH_CHUNK = 8 * 1024 * 1024
VERIFY_METHOD = "re-read the stored object from the store and recomputed its SHA-256 and size"
VERIFY_LOCAL = (
    "re-read the stored file from the store's disk as it was flushed there and recomputed its SHA-256 "
    "and size; that file, read-only, was then linked under its key"
)


@dataclass(frozen=True)
class IngestResult:
    path: str
    outcome: str  # new | duplicate | rejected | resumed | skipped
    item_id: int | None = None
    sha256: str | None = None
    reason: str | None = None

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def _identity(st: os.stat_result) -> tuple[int, int, int]:
    return st.st_size, st.st_mtime_ns, st.st_ino


def regular_file(point: UploadPoint, path: Path) -> os.stat_result:
    """The file's own status, refusing links (the file or a folder on the way inside the point) and non-files."""
    try:
        rel = path.relative_to(point.path)
    except ValueError as exc:
        raise InvalidInput(f"{printable(path)} is not inside upload point {printable(point.path)}") from exc
    here = point.path
    try:
        for part in rel.parts[:-1]:
            here = here / part
            if stat.S_ISLNK(os.lstat(here).st_mode):
                raise InvalidInput(
                    f"{printable(path)}: folder {printable(here)} is a symbolic link; links are never followed"
                )
        st = os.lstat(path)
    except FileNotFoundError as exc:
        raise InvalidInput(f"no such file: {printable(path)}") from exc
    except PermissionError as exc:
        raise SourceUnreadable(f"{printable(path)} cannot be reached: {exc.strerror}") from exc
    if stat.S_ISLNK(st.st_mode):
        raise InvalidInput(f"{printable(path)} is a symbolic link; links are never followed and are not evidence")
    if not stat.S_ISREG(st.st_mode):
        raise InvalidInput(f"{printable(path)} is not a regular file: it is {describe(st.st_mode)}")
    return st


def open_source(path: Path, before: os.stat_result):
    """Open for reading without following a link, and check it is still the regular file that was examined."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise  # gone: the caller says so in its own words
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # swapped for a link since it was examined
            raise SourceChanged(f"{printable(path)} became a symbolic link; it is not taken") from exc
        raise SourceUnreadable(f"{printable(path)} cannot be read: {exc.strerror}") from exc
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_ino != before.st_ino or st.st_dev != before.st_dev:
        os.close(fd)
        raise SourceChanged(f"{printable(path)} was replaced since it was examined; it will be looked at again")
    return os.fdopen(fd, "rb")


def _device_serial(rel: str) -> str | None:
    serial = device_serial_for(rel)
    if serial is None:
        return None
    serial = printable(serial)
    return serial if len(serial) <= 64 else None  # not a recorder's serial; the path still names the folder


def arrival_for(point: UploadPoint, path: Path, st: os.stat_result, uploaded_by: str | None = None) -> Arrival:
    """Describe a source file; it reached the upload point when its inode last changed (ctime)."""
    rel, rel_bytes = stored_form(path.relative_to(point.path).as_posix())
    # ctime, not first sight by the daemon: downtime and outages must not make footage late
    received_at = datetime.fromtimestamp(st.st_ctime, tz=UTC)
    device = _device_serial(rel)
    if point.station_id == WEB_STATION:
        ticket = uploads.read_ticket(point.path, rel.split("/", 1)[0])
        if ticket is not None:  # a browser upload: who sent it, for which recorder, when it completed
            device, uploaded_by, received_at = ticket.device_serial, ticket.uploaded_by, ticket.received
    return Arrival(
        station_id=point.station_id,
        upload_point=str(point.path),
        rel_path=rel,
        rel_path_bytes=rel_bytes,
        device_serial=device,
        size_bytes=st.st_size,
        mtime_ns=st.st_mtime_ns,
        inode=st.st_ino,
        received_at=received_at,
        uploaded_by=uploaded_by,
    )


def store_and_verify(
    rt: Runtime, path: Path, before: os.stat_result, on_bytes: Callable[[int], None] | None = None
) -> StoredCopy:
    """Stream the file into the store while hashing it, verify the stored copy and put it under its hash."""
    store = rt.ready_store()
    temp_key = f"incoming/{uuid.uuid4().hex}"
    try:
        return _store_and_verify(store, temp_key, path, before, on_bytes)
    except BaseException:
        # Nothing refers to the staged copy (a source that changed, a copy that failed verification, a
        # store or disk that failed): it goes now, not at the next start's sweep of incoming/. After
        # the move nothing is left under it; a store that is down leaves it to that sweep.
        with contextlib.suppress(Exception):
            store.delete(temp_key)
        raise


def _store_and_verify(
    store: ObjectStore, temp_key: str, path: Path, before: os.stat_result, on_bytes: Callable[[int], None] | None
) -> StoredCopy:
    taken_at = utcnow()
    with open_source(path, before) as raw:
        reader = HashingReader(raw, on_bytes)
        try:
            if store.local:
                _copy_while_hashing(store, temp_key, raw, reader, before.st_size)
            else:
                store.write(temp_key, reader, before.st_size)
            sha = reader.sha.hexdigest()
        finally:
            reader.sha.close()
        tail = raw.read(1)
        after = os.fstat(raw.fileno())
    hashed_at = utcnow()
    try:
        replaced = os.lstat(path).st_ino != before.st_ino
    except FileNotFoundError:
        replaced = True
    if tail or _identity(after) != _identity(before) or replaced:
        raise SourceChanged(f"{printable(path)} changed while it was being stored; it will be taken again once settled")
    key = original_key(sha)
    if store.local:
        # The staged file is the very file then linked under its key, read-only: checking it while the
        # disk flushes it means the verification no longer waits on the disk, and a copy that fails it
        # never occupies the content key.
        _verify(store, temp_key, sha, before.st_size, flushing=True)
        store.move(temp_key, key)
        stored_at = verified_at = utcnow()
        method = VERIFY_LOCAL
    else:
        store.move(temp_key, key)
        stored_at = utcnow()
        _verify(store, key, sha, before.st_size)
        verified_at = utcnow()
        method = VERIFY_METHOD
    return StoredCopy(
        sha256=sha,
        size_bytes=before.st_size,
        object_key=key,
        store=store.description,
        hash_tool=HASH_TOOL,
        hashed_at=hashed_at,
        stored_at=stored_at,
        verified_at=verified_at,
        verify_method=method,
        taken_at=taken_at,
    )


def _verify(store: ObjectStore, key: str, sha: str, size: int, flushing: bool = False) -> None:
    """Re-read ``key`` from the store and check its SHA-256 and size (``flushing``: while the store's
    ``sync`` of it runs beside); IntegrityFailure, the source kept, when they differ."""
    if flushing:
        with ThreadPoolExecutor(1, thread_name_prefix="evidence-sync") as syncer:
            synced = syncer.submit(store.sync, key)
            try:
                check, length = sha256_of(store.iter_chunks(key))
            finally:
                synced.result()
    else:
        check, length = sha256_of(store.iter_chunks(key))
    if check != sha or length != size:
        raise IntegrityFailure(
            f"stored object {key} does not match its source ({length} bytes, sha256 {check}); the source is kept"
        )


def _copy_while_hashing(store: ObjectStore, key: str, raw: BinaryIO, reader: HashingReader, size: int) -> None:
    """The folder store: the kernel copies the file in (no pass through this process's memory; its
    flush to disk comes later, beside the verification) while this thread hashes it on a read of its
    own, both from the page cache. A change to the source between the two reads fails the verification."""
    try:
        twin = open(f"/proc/self/fd/{raw.fileno()}", "rb")  # the same file, with an offset of its own
    except OSError:  # no /proc: one after the other
        store.write(key, raw, size, durable=False)
        raw.seek(0)
        _hash_through(reader, size)
        return
    with twin, ThreadPoolExecutor(1, thread_name_prefix="evidence-copy") as copier:
        copied = copier.submit(store.write, key, twin, size, False)
        try:
            _hash_through(reader, size)
        finally:
            copied.result()


def _hash_through(reader: HashingReader, size: int) -> None:
    remaining = size
    while remaining > 0 and (chunk := reader.read(min(HASH_CHUNK, remaining))):
        remaining -= len(chunk)


def _archive_names(target: Path, receipt_id: int):
    yield target
    yield target.with_name(f"{target.name}.{receipt_id}")
    for n in itertools.count(2):
        yield target.with_name(f"{target.name}.{receipt_id}.{n}")


def archive(path: Path, target: Path, receipt_id: int) -> Path:
    """Move ``path`` to ``target``, or a variant of its name when taken: nothing in the archive is replaced."""
    target.parent.mkdir(parents=True, exist_ok=True)
    for candidate in _archive_names(target, receipt_id):
        try:  # reserve the name: O_EXCL fails on anything already there, a link included
            os.close(os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
        except FileExistsError:
            continue
        try:
            os.replace(path, candidate)  # replaces only the empty reservation made just now
        except BaseException:
            candidate.unlink(missing_ok=True)
            raise
        return candidate
    raise AssertionError("unreachable")


def release_source(rt: Runtime, point: UploadPoint, receipt: Receipt) -> str:
    """Apply the source policy to a file whose copy is verified; record what was done."""
    path = point.path / on_disk(receipt.rel_path, receipt.rel_path_bytes)
    policy = rt.settings.source_policy
    gone = (
        "source already gone from the upload point (released before its record was cut short by a crash "
        "or an outage, or by another ingester)"
    )
    moved: Path | None = None
    try:
        st = os.lstat(path)
        if _identity(st) != (receipt.size_bytes, receipt.mtime_ns, receipt.inode) or not stat.S_ISREG(st.st_mode):
            disposition = "not released: the file at this path changed after it was stored"
        elif policy == "keep":
            disposition = "kept in place (EVIDENCE_SOURCE_POLICY=keep)"
        elif policy == "delete":
            path.unlink()
            disposition = "deleted"
        else:
            base = point.path / rt.settings.archive_dirname / on_disk(receipt.rel_path, receipt.rel_path_bytes)
            moved = archive(path, base, receipt.id)
            disposition = f"moved to {printable(moved)}"
    except FileNotFoundError:
        disposition = gone
    except OSError as exc:
        raise SourceNotReleased(
            f"{printable(path)} is stored (receipt {receipt.id}) but could not be "
            f"{'deleted' if policy == 'delete' else 'moved to the archive'}: {exc.strerror or exc}; "
            "the source stays and its release is tried again"
        ) from exc
    agent = rt.agent(point.station_id)
    try:
        unit_of_work.run(rt.sessions, lambda session: intake.record_release(session, receipt, disposition, agent))
    except BaseException:
        if moved is not None:
            # The database went away between the move and its record. Back where it was, the source is
            # tried again like any file that failed (ingest_file resumes its release); left in the
            # archive, nothing would record its release until the next start, and then only as "gone".
            unarchive(moved, path)
        raise
    return disposition


def unarchive(moved: Path, path: Path) -> None:
    """Put a source just moved to the archive back at ``path`` (never over a file that has since arrived there)."""
    try:
        os.link(moved, path)  # the same inode, size and mtime: its receipt still finds it
        os.unlink(moved)
    except OSError as exc:  # it stays in the archive: the next start records its release
        log.warning("could not put %s back to %s: %s", printable(moved), printable(path), exc)


def _record(rt: Runtime, arrival: Arrival, copy: StoredCopy, agent: str):
    def write(session: Session):
        return intake.record_stored(session, arrival, copy, agent)

    try:
        recorded = unit_of_work.run(rt.sessions, write)
    except IntegrityError:
        # Someone else recorded the same content a moment ago: ours becomes a duplicate.
        recorded = unit_of_work.run(rt.sessions, write)
    item, _, new = recorded
    if new and arrival.device_serial is None:
        log.warning(
            "item %s (%s, station %s) is unattributed: it was not in a recorder's folder, so no officer "
            "or unit is known; attribute it with `evidence attribute %s --device SERIAL`",
            item.id,
            arrival.rel_path,
            arrival.station_id,
            item.id,
        )
    return recorded


def lock_original(rt: Runtime, item_id: int, key: str, received_at: datetime, agent: str) -> None:
    """Lock a new original at once, until its retention verdict can (evidence/object_lock.py); a store
    that refuses just now leaves it to the daemon's next lock pass: ingest goes on."""
    grace = rt.settings.retention_grace_days
    if grace <= 0:
        return  # nothing provisional can be safe without a grace period
    until = received_at + timedelta(days=grace)
    try:
        if rt.store.lock_status() == LOCK_ON:  # known since provisioning: no request
            object_lock.lock_new_original(rt.sessions, rt.store, item_id, key, until, agent)
    except EvidenceError as exc:
        log.warning("could not lock the original of item %s yet (the lock pass will): %s", item_id, exc)


def ingest_file(
    rt: Runtime,
    point: UploadPoint,
    path: Path,
    *,
    uploaded_by: str | None = None,
    on_bytes: Callable[[int], None] | None = None,
) -> IngestResult:
    """Take one settled file from an upload point through hashing, storage, verification and release."""
    path = Path(path)
    st = regular_file(point, path)
    arrival = arrival_for(point, path, st, uploaded_by)
    agent = rt.agent(point.station_id)

    receipt = unit_of_work.run(rt.sessions, lambda session: intake.find_receipt(session, arrival))
    if receipt is not None:
        if receipt.source_released_at is None and receipt.outcome != "rejected":
            release_source(rt, point, receipt)
            return IngestResult(printable(path), "resumed", receipt.item_id, reason="finished releasing the source")
        return IngestResult(printable(path), "skipped", receipt.item_id, reason=receipt.reason or "already taken")

    if st.st_size == 0:
        reason = "zero-byte file: nothing to preserve; left in the upload point"
        unit_of_work.run(rt.sessions, lambda session: intake.record_rejection(session, arrival, reason, agent))
        return IngestResult(printable(path), "rejected", reason=reason)

    try:
        copy = store_and_verify(rt, path, st, on_bytes)
    except FileNotFoundError as exc:
        raise InvalidInput(
            f"{printable(path)} vanished before it could be stored (taken by another ingester?)"
        ) from exc
    item, receipt, new = _record(rt, arrival, copy, agent)
    if new:
        lock_original(rt, item.id, copy.object_key, arrival.received_at, agent)
    release_source(rt, point, receipt)
    return IngestResult(printable(path), "new" if new else "duplicate", item.id, copy.sha256)


def finish_releases(rt: Runtime, point: UploadPoint, busy: Collection[Path] = ()) -> int:
    """Release sources whose copies were recorded but whose release a crash or an outage cut short,
    but for the files in ``busy`` (being ingested, or retried, right now); returns how many."""
    released = 0
    pending = unit_of_work.run(rt.sessions, lambda session: intake.unreleased_receipts(session, str(point.path)))
    for receipt in pending:
        if point.path / on_disk(receipt.rel_path, receipt.rel_path_bytes) in busy:
            continue
        try:
            release_source(rt, point, receipt)
            released += 1
        except SourceNotReleased as exc:  # one stuck file must not stop the rest; ingest retries it
            log.warning("%s", exc)
    return released
