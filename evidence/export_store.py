"""Export packages kept in the object store, so that any API replica can hand over what any worker made.

A worker builds the bag in its own staging folder (evidence/export.py), then publishes it under a prefix
of its own (``exports/export-<id>/<run>/``): the tag files (manifests, custody logs, signature...) and
any proxy are stored there, while originals and clips are not copied again: they are write-once objects
under their content key, which the listing ``package.json`` names with each file's SHA-256 and size. A
download streams the tar from the store entry by entry, hashing each as it goes: an object that no
longer matches the listing ends the stream with an error rather than hand over a different package.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath

from evidence.errors import IntegrityFailure, NotFound
from evidence.objectstore import ObjectStore, replaceable

LISTING = "package.json"


@dataclass(frozen=True)
class Entry:
    path: str  # inside the bag, with ``/``
    key: str  # the object holding its bytes
    size: int
    sha256: str


def prefix_for(export_id: int, run: str) -> str:
    """Where one run of an export job publishes: a worker that lost its lease never writes over the winner's."""
    return f"exports/export-{export_id}/{run}/"


def publish(store: ObjectStore, bag: Path, payload: tuple[tuple[str, str, str, int], ...], prefix: str) -> str:
    """Store ``bag`` under ``prefix``, payload by reference where its key is write-once; returns the listing's key.

    ``payload`` is each payload file's (path in the bag, source key, sha256, size), as copied and checked."""
    by_path = {path: (key, sha, size) for path, key, sha, size in payload}
    entries = []
    for file in sorted(p for p in bag.rglob("*") if p.is_file()):
        rel = file.relative_to(bag).as_posix()
        source = by_path.get(rel)
        if source is not None and not replaceable(source[0]):
            key, sha, size = source
            entries.append(Entry(rel, key, size, sha))
            continue
        # a tag file, or a proxy (remade proxies replace their key's bytes)
        with open(file, "rb") as f:
            sha, size = hashlib.file_digest(f, "sha256").hexdigest(), os.fstat(f.fileno()).st_size
        key = prefix + rel
        store.put_file(key, file)
        entries.append(Entry(rel, key, size, sha))
    listing = json.dumps({"made_at": time.time(), "entries": [asdict(e) for e in entries]}, indent=1).encode()
    store.write(prefix + LISTING, io.BytesIO(listing), len(listing))
    return prefix + LISTING


def exists(store: ObjectStore, listing: str) -> bool:
    return store.size(listing) is not None


def _read_listing(store: ObjectStore, listing: str) -> tuple[float, list[Entry]]:
    try:
        data = json.loads(b"".join(store.iter_chunks(listing)))
    except FileNotFoundError as exc:
        raise NotFound(f"the export package {listing} is no longer in the store") from exc
    return float(data["made_at"]), [Entry(**e) for e in data["entries"]]


def tar_stream(store: ObjectStore, listing: str, root: str) -> Iterator[bytes]:
    """The package as a POSIX tar under ``root/``, each file streamed from the store and checked on the way."""
    made_at, entries = _read_listing(store, listing)
    folders_sent: set[str] = set()
    for entry in entries:
        for folder in reversed(PurePosixPath(entry.path).parents[:-1]):
            if str(folder) not in folders_sent:
                folders_sent.add(str(folder))
                info = tarfile.TarInfo(f"{root}/{folder}")
                info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, int(made_at)
                yield info.tobuf(tarfile.PAX_FORMAT)
        info = tarfile.TarInfo(f"{root}/{entry.path}")
        info.size, info.mode, info.mtime = entry.size, 0o644, int(made_at)
        yield info.tobuf(tarfile.PAX_FORMAT)
        digest, sent = hashlib.sha256(), 0
        for block in store.iter_chunks(entry.key):
            sent += len(block)
            if sent > entry.size:
                break
            digest.update(block)
            yield block
        if sent != entry.size or digest.hexdigest() != entry.sha256:
            raise IntegrityFailure(
                f"{entry.path} ({entry.key}) no longer matches the package's listing: the download is stopped"
            )
        if entry.size % tarfile.BLOCKSIZE:
            yield b"\0" * (tarfile.BLOCKSIZE - entry.size % tarfile.BLOCKSIZE)
    yield b"\0" * (2 * tarfile.BLOCKSIZE)
