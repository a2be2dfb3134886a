"""Case export packages: a signed BagIt bag (RFC 8493) a recipient checks offline with no software of ours.

Layout of a package (``README.txt`` inside it says the same to the recipient)::

    bagit.txt  bag-info.txt  manifest-sha256.txt  tagmanifest-sha256.txt  tagmanifest-sha256.txt.sig
    data/originals/<recorded local time>_<device>_<id>.<ext>     the stored originals, bit for bit
    data/clips/...                                              evidence clips cut from them
    data/proxies/...                                            viewing copies (``with_proxies``)
    custody/case.jsonl, custody/items/<id>.jsonl                each line IS an event's Merkle leaf bytes
    custody/*.proofs.jsonl                                      each event's inclusion proof, line by line
    custody/checkpoint.txt                                      the signed checkpoint the proofs end in
    items.json  case.jsonld  README.txt  public-key.pem  public-key.txt

Payload files are copied into the bag several at once (one per CPU, at most 4; by the kernel from a
folder store, streamed from S3; memory does not grow with the case), the copies hashed, checked
against their recorded SHA-256 and size, and the manifests written from those hashes in the format
the ``bagit`` library reads (so the payload is hashed once); ``bagit.Bag(path).validate()`` passes.
The Ed25519 signature over ``tagmanifest-sha256.txt`` closes everything but the payload, which the
manifest (listed in the tag manifest) closes in turn.
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import hashlib
import json
import mmap
import os
import re
import shutil
import tarfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata
from io import FileIO
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import bagit
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from evidence import access, case_jsonld, custody, custody_checkpoints, custody_tree, export_store, jobs, unit_of_work
from evidence.access import CaseAction
from evidence.custody import EventKind
from evidence.custody_checkpoints import Signer
from evidence.errors import Conflict, IntegrityFailure, NotFound
from evidence.export_plan import Member, Snapshot
from evidence.models import Case, CaseItem, CustodyCheckpoint, CustodyEvent, Export, ExportState, Item, utcnow
from evidence.objectstore import ObjectStore
from evidence.signing_key import public_pem
from evidence.users import Principal

SIGNATURE = "tagmanifest-sha256.txt.sig"
TAGMANIFEST = "tagmanifest-sha256.txt"
MANIFEST = "manifest-sha256.txt"
BAGIT_TXT = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
HASH_BLOCK = 8 * 1024 * 1024  # bytes hashed (and reported to progress) at a time
COPY_SPAN = 1 << 30  # bytes a copy_file_range call may move
# payload files copied and hashed at once, one a CPU: SHA-256 (~1 GB/s a CPU) bounds the export; past 4
# the disk does
COPY_WORKERS = max(1, min(4, os.cpu_count() or 1))
NO_KERNEL_COPY = {errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL, errno.EPERM}

# (what is being written, bytes written so far, bytes in all)
Progress = Callable[[str, int, int], None]


def software() -> str:
    """This system's name and version, as the bag and the CASE graph name it."""
    try:
        return f"evidence-recordings {metadata.version('evidence-recordings')}"
    except metadata.PackageNotFoundError:
        return "evidence-recordings"


# -- what goes in --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    path: Path
    items: int
    files: int
    bytes: int
    tagmanifest_sha256: str
    tree_size: int
    # each payload file: (path in the bag, the key it was copied from, its sha256, its size)
    payload: tuple[tuple[str, str, str, int], ...] = ()


def _safe(text: str, keep: str = "") -> str:
    """A name part of ASCII letters, digits, ``-``, ``_`` (and ``keep``): names travel to any file system."""
    cleaned = re.sub(rf"[^A-Za-z0-9_{re.escape(keep)}-]+", "-", text).strip("-.")
    return cleaned[:64] or "x"


def payload_name(item: Item, zone: ZoneInfo) -> str:
    """``<recorded local time>_<device>_<id>.<ext>`` in the station's time zone."""
    if item.recorded_start is not None:
        when = item.recorded_start.astimezone(zone).strftime("%Y-%m-%d_%H%M%S%z")
    else:
        when = "unknown-time"
    device = _safe(item.device_serial) if item.device_serial else "no-device"
    ext = _safe(Path(item.original_filename).suffix.lstrip(".").lower()) if "." in item.original_filename else ""
    return f"{when}_{device}_{item.id}.{ext if ext != 'x' and ext else 'bin'}"


def _members(session: Session, case_id: int, zone: ZoneInfo, with_proxies: bool) -> list[Member]:
    linked = list(
        session.scalars(
            select(Item)
            .join(CaseItem, CaseItem.item_id == Item.id)
            .where(CaseItem.case_id == case_id, CaseItem.unlinked_at.is_(None))
            .order_by(Item.id)
        )
    )
    ids = {i.id for i in linked}
    # the original a linked clip was cut from goes with it: the clip's provenance points at it
    sources = [session.get(Item, i.derived_from) for i in linked if i.derived_from and i.derived_from not in ids]
    found: dict[int, tuple[Item, str]] = {i.id: (i, "clip" if i.derived_from else "original") for i in linked}
    for s in sources:
        if s is not None:
            found.setdefault(s.id, (s, "source"))
    out = []
    for item_id in sorted(found):
        item, role = found[item_id]
        has_file = item.purged_at is None and item.status != "purged"
        name = payload_name(item, zone)
        folder = "clips" if role == "clip" else "originals"
        proxy = item.proxy_key if with_proxies and has_file and item.proxy_key else None
        tool, args = None, []
        if item.derived_from is not None:
            made = session.scalars(
                select(CustodyEvent).where(
                    CustodyEvent.item_id == item.id, CustodyEvent.kind == EventKind.CLIP_MADE.value
                )
            ).first()
            if made is not None:
                tool, args = made.tool, list(json.loads(made.details).get("args") or [])
        out.append(
            Member(
                item_id=item.id,
                sha256=item.sha256,
                size=item.size_bytes,
                object_key=item.object_key if has_file else None,
                path=f"data/{folder}/{name}" if has_file else "",
                role=role,
                derived_from=item.derived_from,
                device=item.device_serial,
                original_filename=item.original_filename,
                recorded_start=item.recorded_start,
                recorded_end=item.recorded_end,
                clip_start_s=item.clip_start_s,
                clip_end_s=item.clip_end_s,
                proxy_key=proxy,
                proxy_path=f"data/proxies/{Path(name).stem}_proxy.mp4" if proxy else None,
                clip_tool=tool,
                clip_args=args,
            )
        )
    return out


def snapshot(
    session: Session, case_id: int, signer: Signer, store: ObjectStore | None, zone: ZoneInfo, with_proxies: bool
) -> Snapshot:
    """Sign a checkpoint of the log as it stands (every event so far is covered) and read what to export."""
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound(f"no case {case_id}")
    row = custody_checkpoints.make(session, signer, store) or custody_checkpoints.newest(session)
    if row is None:  # an empty log cannot be: opening the case was an event
        raise NotFound("the custody log has no checkpoint")
    return Snapshot(
        case_id=case.id,
        case_number=case.number,
        case_title=case.title,
        case_unit=case.unit,
        checkpoint_id=row.id,
        tree_size=row.tree_size,
        root_hash=row.root_hash,
        note=row.note,
        members=_members(session, case.id, zone, with_proxies),
    )


# -- writing -------------------------------------------------------------------------------------


class _Meter:
    """Bytes written so far against the whole, reported to ``progress`` (from the copying threads)."""

    def __init__(self, total: int, progress: Progress | None) -> None:
        self.total, self.done, self.progress = total, 0, progress
        self._lock = threading.Lock()

    def add(self, what: str, n: int) -> None:
        with self._lock:
            self.done += n
            if self.progress is not None:
                self.progress(what, self.done, self.total)


def _copy(store: ObjectStore, key: str, dest: Path, meter: _Meter, what: str) -> tuple[str, int]:
    """Copy ``key`` to ``dest`` and hash it; (sha256, size). Not yet fsynced: ``_fsync`` does that.

    From a folder store the kernel copies (``copy_file_range``, as ``cp`` does) and the hash is of
    ``dest`` as written, from the page cache: no more reading than hashing the stream would take, and
    what is checked is the package's own copy. From S3 the stream is hashed while it is written.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    if store.description.startswith("file://"):  # local_path is the stored file itself, no download
        with store.local_path(key) as src:
            _kernel_copy(src, dest)
        return _hash_file(dest, meter, what)
    digest, size = hashlib.sha256(), 0
    with open(dest, "xb") as f:
        for chunk in store.iter_chunks(key):
            digest.update(chunk)
            f.write(chunk)
            size += len(chunk)
            meter.add(what, len(chunk))
    return digest.hexdigest(), size


def _kernel_copy(src: Path, dest: Path) -> None:
    """``src`` to the new file ``dest`` without passing the bytes through Python where the kernel can."""
    with open(src, "rb", buffering=0) as fin, open(dest, "xb", buffering=0) as fout:
        try:
            while os.copy_file_range(fin.fileno(), fout.fileno(), COPY_SPAN):
                pass
        except (OSError, AttributeError) as exc:  # another file system (EXDEV), not Linux: copy the rest by hand
            if isinstance(exc, OSError) and exc.errno not in NO_KERNEL_COPY:
                raise
            shutil.copyfileobj(fin, fout, 1024 * 1024)  # both offsets stand where the kernel stopped


def _hash_file(path: Path, meter: _Meter | None = None, what: str = "") -> tuple[str, int]:
    """(sha256, size) of ``path``, hashed from a read-only map of it: the page cache is hashed in place,
    not copied into a buffer first (~10% less CPU here). Only files this export wrote are mapped."""
    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        size = os.fstat(f.fileno()).st_size
        try:
            mapped = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) if size else None
        except OSError:  # a file system that cannot map files (some FUSE mounts): read it
            return _hash_read(f, digest, meter, what)
        if mapped is None:  # an empty file cannot be mapped
            return digest.hexdigest(), 0
        with mapped:
            mapped.madvise(mmap.MADV_SEQUENTIAL)
            view = memoryview(mapped)
            try:
                for at in range(0, size, HASH_BLOCK):
                    digest.update(view[at : at + HASH_BLOCK])
                    if meter is not None:
                        meter.add(what, min(HASH_BLOCK, size - at))
            finally:
                view.release()
    return digest.hexdigest(), size


def _hash_read(f: FileIO, digest: Any, meter: _Meter | None, what: str) -> tuple[str, int]:
    size, buf = 0, bytearray(1024 * 1024)
    view = memoryview(buf)
    while n := f.readinto(buf):
        digest.update(view[:n])
        size += n
        if meter is not None:
            meter.add(what, n)
    return digest.hexdigest(), size


def _file_sha256(path: Path) -> str:
    return _hash_file(path)[0]


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy_payload(
    store: ObjectStore, bag: Path, files: list[tuple[str, str]], meter: _Meter, expect: dict[str, Member]
) -> list[tuple[str, int]]:
    """Copy and hash each (key, path in the bag), ``COPY_WORKERS`` at a time, checking originals against
    ``expect`` (by path); (sha256, size) in the order given. The first failure stops the rest. Each file
    is fsynced by a thread of its own once hashed, so the disk writes while the next ones are hashed."""
    # copies is left first: a copy still running when another failed may yet hand its fsync over
    with ThreadPoolExecutor(1) as syncs, ThreadPoolExecutor(COPY_WORKERS) as copies:

        def one(key: str, rel: str) -> tuple[str, int]:
            sha, size = _copy(store, key, bag / rel, meter, rel)
            m = expect.get(rel)
            if m is not None and (sha, size) != (m.sha256, m.size):
                raise IntegrityFailure(
                    f"item {m.item_id}: the stored original reads as sha256 {sha} ({size} bytes), "
                    f"not the recorded {m.sha256} ({m.size} bytes): export stopped, run evidence fixity"
                )
            synced.append(syncs.submit(_fsync, bag / rel))
            return sha, size

        synced: list[Future[None]] = []
        pending = [copies.submit(one, key, rel) for key, rel in files]
        try:
            found = [job.result() for job in pending]
            for sync in synced:
                sync.result()
        except BaseException:
            for job in pending:
                job.cancel()
            raise
    return found


def _write_custody(
    session: Session, bag: Path, name: str, events: list[CustodyEvent], checkpoint: CustodyCheckpoint
) -> int:
    """``custody/<name>.jsonl`` (leaf bytes, one a line) and ``custody/<name>.proofs.jsonl`` beside it."""
    proofs = custody_checkpoints.proofs(session, events, checkpoint)
    target = bag / "custody" / f"{name}.jsonl"
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as lines, open(bag / "custody" / f"{name}.proofs.jsonl", "wb") as proof_lines:
        for ev, proof in zip(events, proofs, strict=True):
            lines.write(custody_tree.leaf_data(ev) + b"\n")
            proof_lines.write(
                json.dumps({"seq": ev.seq, **(proof or {})}, sort_keys=True, separators=(",", ":")).encode() + b"\n"
            )
    return len(events)


def _custody(sessions: sessionmaker[Session], bag: Path, snap: Snapshot) -> None:
    """Each item's and the case's events up to the checkpoint, with their proofs; one short read per log."""

    def one(session: Session, name: str, column: Any, value: int) -> None:
        checkpoint = session.get(CustodyCheckpoint, snap.checkpoint_id)
        assert checkpoint is not None
        events = list(
            session.scalars(
                select(CustodyEvent)
                .where(column == value, CustodyEvent.seq <= snap.tree_size)
                .order_by(CustodyEvent.seq)
            )
        )
        _write_custody(session, bag, name, events, checkpoint)

    unit_of_work.run(sessions, lambda s: one(s, "case", CustodyEvent.case_id, snap.case_id))
    for item_id in [m.item_id for m in snap.members]:
        unit_of_work.run(
            sessions, functools.partial(one, name=f"items/{item_id}", column=CustodyEvent.item_id, value=item_id)
        )


def _readme(snap: Snapshot, exporter: str, made_at: str, pubkey: str) -> str:
    return f"""Evidence export of case {snap.case_number}: {snap.case_title}
Made {made_at} by {exporter} with {software()}.

This folder is a BagIt bag (RFC 8493). Everything in it can be checked offline, without any
software of the system that made it, with common tools (sha256sum, openssl 3). Run the commands
below inside this folder.

1. The signature. tagmanifest-sha256.txt lists the SHA-256 of every file outside data/ (the
   payload manifest, the custody logs, this README ...). It is signed with the custody log's
   Ed25519 key; public-key.pem is that key, and public-key.txt the same key in signed-note form:

       {pubkey}

   Compare it with the key the sender gave you by another channel (a letter, a phone call): a
   package signed by another key proves nothing. Then:

       openssl pkeyutl -verify -pubin -inkey public-key.pem -rawin -in {TAGMANIFEST} -sigfile {SIGNATURE}

   It prints "Signature Verified Successfully".

2. The tag files and the payload:

       sha256sum -c {TAGMANIFEST}
       sha256sum -c {MANIFEST}

   Every line must say OK. The payload manifest lists each file in data/: originals/ holds the
   recordings exactly as they were stored at ingest, clips/ evidence clips cut from them (see
   case.jsonld and the clips' custody logs for how), proxies/ (if present) viewing copies. Names
   are <recorded local time>_<recorder>_<item id>.<ext>, in the station's time zone. items.json
   ties each file to its item id and recorded SHA-256.

3. The chain of custody. custody/items/<item id>.jsonl holds each item's custody events and
   custody/case.jsonl the case's, oldest first. Each line is exactly the bytes of one leaf of the
   system's custody log, a Merkle tree (RFC 9162): its leaf hash is SHA-256(0x00 || line without
   the newline). custody/*.proofs.jsonl holds, line for line, that event's inclusion proof
   (leaf_index, tree_size, hashes) against the signed checkpoint in custody/checkpoint.txt (a
   C2SP signed note: origin, tree size {snap.tree_size}, base64 root hash, signed with the same key).
   With the proof, hash up to the root as RFC 9162 section 2.1.3.2 describes and compare it with
   the checkpoint's root: an event that was altered, or is missing, does not fit.

   The checkpoint was signed when this export was made, so every event up to then is covered.
   The events recording this export itself ("exported") are appended to the log after it and are
   therefore not in this package; the sender's system shows them.

4. case.jsonld describes the items, their hashes, the tools and the derivations (clips from
   originals) in CASE/UCO (https://caseontology.org); case_validate from case-utils checks it.

The sender's software checks all of the above at once: evidence verify-export <folder> --pubkey KEY.
"""


def _bag_info(snap: Snapshot, exporter: str, made_at: datetime, zone: ZoneInfo, oxum: tuple[int, int]) -> str:
    total, files = oxum
    fields = [
        ("Source-Organization", snap.case_unit),
        ("External-Identifier", snap.case_number),
        ("External-Description", f"Evidence export of case {snap.case_number}: {snap.case_title}"),
        ("Bagging-Date", made_at.astimezone(zone).date().isoformat()),
        ("Bag-Software-Agent", f"{software()} (bagit {bagit.VERSION} manifest format)"),
        ("Payload-Oxum", f"{total}.{files}"),
        ("Bag-Size", _human(total)),
        ("Case-Number", snap.case_number),
        ("Case-Title", snap.case_title),
        ("Exported-By", exporter),
        ("Exported-At", custody_tree.iso(made_at)),
        ("Item-Count", str(len(snap.members))),
        ("Custody-Tree-Size", str(snap.tree_size)),
        ("Custody-Root-Hash", snap.root_hash),
    ]
    return "".join(f"{k}: {_one_line(v)}\n" for k, v in fields)


def _one_line(text: str) -> str:
    return re.sub(r"[\r\n]+", " ", text)


def _human(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{n} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} bytes"


def _tag_files(bag: Path) -> list[str]:
    """Every file outside data/ but the tag manifest and its signature, sorted, relative, with ``/``."""
    found = []
    for path in bag.rglob("*"):
        rel = path.relative_to(bag).as_posix()
        if path.is_file() and not rel.startswith("data/") and rel not in (TAGMANIFEST, SIGNATURE):
            found.append(rel)
    return sorted(found)


def write_package(
    sessions: sessionmaker[Session],
    store: ObjectStore,
    signer: Signer,
    snap: Snapshot,
    out: Path,
    *,
    exporter: str,
    zone: ZoneInfo,
    progress: Progress | None = None,
) -> Result:
    """Write the bag for ``snap`` at ``out`` (which must not exist): built beside it, renamed when complete."""
    out = Path(out)
    if out.exists():
        raise Conflict(f"{out} already exists: choose a new folder for the export")
    work = out.with_name(f".{out.name}.partial")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        result = _write(sessions, store, signer, snap, work, exporter=exporter, zone=zone, progress=progress)
        work.rename(out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return dataclasses.replace(result, path=out)


def _write(
    sessions: sessionmaker[Session],
    store: ObjectStore,
    signer: Signer,
    snap: Snapshot,
    bag: Path,
    *,
    exporter: str,
    zone: ZoneInfo,
    progress: Progress | None,
) -> Result:
    made_at = utcnow()
    meter = _Meter(sum(m.size for m in snap.members if m.object_key), progress)
    stored = [m for m in snap.members if m.object_key is not None]
    with_proxy = [m for m in snap.members if m.proxy_key and m.proxy_path]
    files: list[tuple[str, str]] = [(m.object_key, m.path) for m in stored if m.object_key is not None]
    files += [(m.proxy_key, m.proxy_path) for m in with_proxy if m.proxy_key and m.proxy_path]
    meter.total += sum(store.size(key) or 0 for key, _ in files[len(stored) :])
    expect = {m.path: m for m in stored}
    found = _copy_payload(store, bag, files, meter, expect)
    proxies = {m.item_id: hit for m, hit in zip(with_proxy, found[len(stored) :], strict=True)}
    manifest = [(sha, path) for (sha, _), (_, path) in zip(found, files, strict=True)]
    total = sum(size for _, size in found)
    (bag / "data").mkdir(exist_ok=True)
    manifest.sort(key=lambda e: e[1])
    # bagit's own manifest format ("<hex>  <path>"), which `sha256sum -c` reads as well
    (bag / MANIFEST).write_text("".join(f"{sha}  {path}\n" for sha, path in manifest), encoding="utf-8")
    (bag / "bagit.txt").write_text(BAGIT_TXT, encoding="utf-8")

    _custody(sessions, bag, snap)
    (bag / "custody" / "checkpoint.txt").write_text(snap.note, encoding="utf-8")
    pubkey = signer.verifier.encode()
    (bag / "public-key.txt").write_text(pubkey + "\n", encoding="utf-8")
    (bag / "public-key.pem").write_bytes(public_pem(signer.key))
    index = [_index_entry(m, proxies.get(m.item_id)) for m in snap.members]
    (bag / "items.json").write_text(json.dumps(index, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    graph = case_jsonld.graph(snap, proxies, exporter=exporter, made_at=made_at, software=software())
    (bag / "case.jsonld").write_text(json.dumps(graph, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (bag / "README.txt").write_text(_readme(snap, exporter, custody_tree.iso(made_at), pubkey), encoding="utf-8")
    (bag / "bag-info.txt").write_text(_bag_info(snap, exporter, made_at, zone, (total, len(manifest))), "utf-8")

    tags = "".join(f"{_file_sha256(bag / rel)}  {rel}\n" for rel in _tag_files(bag))
    (bag / TAGMANIFEST).write_text(tags, encoding="utf-8")
    signed = (bag / TAGMANIFEST).read_bytes()
    (bag / SIGNATURE).write_bytes(signer.key.sign(signed))
    # the library reads what was written: structure, manifests and Payload-Oxum, without hashing again
    bagit.Bag(str(bag)).validate(completeness_only=True)
    payload = tuple((path, key, sha, size) for (key, path), (sha, size) in zip(files, found, strict=True))
    tagmanifest_sha256 = hashlib.sha256(signed).hexdigest()
    return Result(bag, len(snap.members), len(manifest), total, tagmanifest_sha256, snap.tree_size, payload)


def _index_entry(m: Member, proxy: tuple[str, int] | None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "item_id": m.item_id,
        "role": m.role,
        "path": m.path or None,
        "sha256": m.sha256,
        "size_bytes": m.size,
        "derived_from": m.derived_from,
        "device": m.device,
        "original_filename": m.original_filename,
        "recorded_start": custody_tree.iso(m.recorded_start) if m.recorded_start else None,
        "custody": f"custody/items/{m.item_id}.jsonl",
    }
    if m.clip_start_s is not None:
        entry["clip"] = {"start_s": m.clip_start_s, "end_s": m.clip_end_s}
    if proxy is not None and m.proxy_path:
        entry["proxy"] = {"path": m.proxy_path, "sha256": proxy[0], "size_bytes": proxy[1]}
    if m.object_key is None:
        entry["note"] = "purged under the retention rules: no file, its custody log only"
    return entry


# -- requests, the job, and the record -----------------------------------------------------------


def export_view(row: Export, case_number: str | None = None) -> dict[str, Any]:
    return {
        "id": row.id,
        "case_id": row.case_id,
        "case_number": case_number,
        "requested_by": row.requested_by,
        "requested_at": custody_tree.iso(row.requested_at),
        "with_proxies": row.with_proxies,
        "state": row.state,
        "items": row.items,
        "bytes": row.bytes,
        "finished_at": custody_tree.iso(row.finished_at) if row.finished_at else None,
        "error": row.error,
    }


def request(session: Session, case: Case, by: str, agent: str, with_proxies: bool) -> Export:
    """A new export of ``case``, queued; EXPORT_REQUESTED on the case and on each item it will hold."""
    row = Export(case_id=case.id, requested_by=by, with_proxies=with_proxies, state=ExportState.QUEUED.value)
    session.add(row)
    session.flush()
    details = {"export_id": row.id, "case_number": case.number, "with_proxies": with_proxies}
    custody.append(session, EventKind.EXPORT_REQUESTED, agent=agent, case_id=case.id, details=details)
    for item_id in _item_ids(session, case.id):
        custody.append(
            session, EventKind.EXPORT_REQUESTED, agent=agent, item_id=item_id, case_id=case.id, details=details
        )
    return row


def _item_ids(session: Session, case_id: int) -> list[int]:
    linked = list(
        session.execute(
            select(Item.id, Item.derived_from)
            .join(CaseItem, CaseItem.item_id == Item.id)
            .where(CaseItem.case_id == case_id, CaseItem.unlinked_at.is_(None))
        )
    )
    return sorted({i for i, _ in linked} | {d for _, d in linked if d is not None})


def request_for(session: Session, who: Principal, case_id: int, agent: str, with_proxies: bool) -> dict[str, Any]:
    """A user asks for an export of a case (its reviewers, supervisors of its unit); the queued export's view."""
    case = access.case_for(session, who, case_id, CaseAction.EXPORT)
    row = request(session, case, who.username, agent, with_proxies)
    jobs.enqueue_export(session, row.id)
    return export_view(row, case.number)


def _export_of_case(session: Session, case_id: int, export_id: int) -> Export:
    row = session.get(Export, export_id)
    if row is None or row.case_id != case_id:
        raise NotFound(f"case {case_id} has no export {export_id}")
    return row


def view_for(session: Session, who: Principal, case_id: int, export_id: int) -> dict[str, Any]:
    """Where an export stands (anyone who may see the case)."""
    case = access.case_for(session, who, case_id, CaseAction.VIEW)
    return export_view(_export_of_case(session, case.id, export_id), case.number)


def download_for(
    session: Session, store: ObjectStore, who: Principal, case_id: int, export_id: int, agent: str
) -> tuple[Iterator[bytes], str]:
    """The finished package as a tar stream and a file name for it (those who may export); the download
    is a custody event on the case."""
    case = access.case_for(session, who, case_id, CaseAction.EXPORT)
    row = _export_of_case(session, case.id, export_id)
    if row.state != ExportState.DONE.value or not row.path:
        raise Conflict(f"export {export_id} is {row.state}, not ready to download")
    name = f"{_safe(case.number, '.')}-export-{row.id}"
    if Path(row.path).is_absolute():  # made by `evidence export`-era workers into a folder on this host
        folder = Path(row.path)
        if not (folder / TAGMANIFEST).is_file():
            raise NotFound(f"export {export_id}: the package is no longer on the server")
        chunks, package = tar_stream(folder, name), folder.name
    else:
        if not export_store.exists(store, row.path):
            raise NotFound(f"export {export_id}: the package is no longer in the store")
        chunks, package = export_store.tar_stream(store, row.path, name), row.path
    custody.append(
        session,
        EventKind.EXPORT_DOWNLOADED,
        agent=agent,
        case_id=case.id,
        details={"export_id": row.id, "package": package},
    )
    return chunks, f"{name}.tar"


def run(
    sessions: sessionmaker[Session],
    store: ObjectStore,
    signer: Signer,
    export_id: int,
    out: Path,
    *,
    agent: str,
    zone: ZoneInfo,
    progress: Progress | None = None,
    publish_to: str | None = None,
    guard: Callable[[Session], object] | None = None,
) -> Result:
    """Make the package of a requested export at ``out`` and record it (EXPORTED on the case and each item).

    With ``publish_to`` (a store prefix) the package is published to the store and ``out`` removed, so any
    API replica can hand it over; ``guard`` runs first in the recording transaction (a worker's lease check)."""

    def start(session: Session) -> tuple[Snapshot, str]:
        row = session.get(Export, export_id)
        if row is None:
            raise NotFound(f"no export {export_id}")
        row.state = ExportState.RUNNING.value
        return snapshot(session, row.case_id, signer, store, zone, row.with_proxies), row.requested_by

    snap, exporter = unit_of_work.run(sessions, start)
    result = write_package(sessions, store, signer, snap, out, exporter=exporter, zone=zone, progress=progress)
    where = str(result.path)
    if publish_to is not None:
        try:
            where = export_store.publish(store, result.path, result.payload, publish_to)
        finally:
            shutil.rmtree(result.path, ignore_errors=True)

    def finish(session: Session) -> None:
        if guard is not None:
            guard(session)
        row = session.get(Export, export_id)
        assert row is not None
        row.state, row.path, row.items, row.bytes = ExportState.DONE.value, where, result.items, result.bytes
        row.finished_at, row.error = utcnow(), None
        details = {
            "export_id": export_id,
            "case_number": snap.case_number,
            "package": result.path.name,
            "tagmanifest_sha256": result.tagmanifest_sha256,
            "custody_tree_size": result.tree_size,
            "payload_oxum": f"{result.bytes}.{result.files}",
            "key": signer.verifier.encode(),
        }
        custody.append(session, EventKind.EXPORTED, agent=agent, case_id=snap.case_id, details=details)
        for m in snap.members:
            item_details = {**details, "path": m.path or None, "sha256": m.sha256}
            custody.append(
                session, EventKind.EXPORTED, agent=agent, item_id=m.item_id, case_id=snap.case_id, details=item_details
            )

    unit_of_work.run(sessions, finish)
    return result


def state_of(session: Session, export_id: int) -> str:
    row = session.get(Export, export_id)
    if row is None:
        raise NotFound(f"no export {export_id}")
    return row.state


def fail(sessions: sessionmaker[Session], export_id: int, error: str) -> None:
    """Record that an export will not be made."""

    def write(session: Session) -> None:
        row = session.get(Export, export_id)
        if row is not None:
            row.state, row.error, row.finished_at = ExportState.FAILED.value, error[-4000:], utcnow()

    unit_of_work.run(sessions, write)


def case_by_number(session: Session, number: str) -> Case:
    case = session.scalars(select(Case).where(Case.number == number)).first()
    if case is None:
        raise NotFound(f"no case {number!r}")
    return case


# -- handing over: a tar stream of the folder ----------------------------------------------------


def tar_stream(bag: Path, root: str, chunk: int = 1024 * 1024) -> Iterator[bytes]:
    """The bag as a POSIX tar under ``root/``, streamed file by file (memory stays one chunk)."""
    for path in sorted(bag.rglob("*")):
        rel = path.relative_to(bag).as_posix()
        info = tarfile.TarInfo(f"{root}/{rel}")
        st = path.stat()
        info.mtime = int(st.st_mtime)
        if path.is_dir():
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            yield info.tobuf(tarfile.PAX_FORMAT)
            continue
        info.size, info.mode = st.st_size, 0o644
        yield info.tobuf(tarfile.PAX_FORMAT)
        sent = 0
        with open(path, "rb") as f:
            while block := f.read(min(chunk, info.size - sent)):
                sent += len(block)
                yield block
        if sent != info.size:
            raise IntegrityFailure(f"{rel} changed size while it was being sent")
        if info.size % tarfile.BLOCKSIZE:
            yield b"\0" * (tarfile.BLOCKSIZE - info.size % tarfile.BLOCKSIZE)
    yield b"\0" * (2 * tarfile.BLOCKSIZE)
