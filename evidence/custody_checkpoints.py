"""Signed checkpoints of the custody log: made, copied to the object store, read back for verifying.

A checkpoint (C2SP signed note) commits to the log's size and root at a moment, signed with the log's
Ed25519 key. Each one is written to the database and, write-once, to the object store: with
``<size>-<root>.note`` goes ``<size>-<root>.leaves``, the leaf hashes added since the checkpoint
before, so that a verifier can name the first event of a log someone rewrote and re-hashed. Someone
who can rewrite the database cannot rewrite those copies (object lock), nor sign a new root.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from evidence import custody, custody_tree, items
from evidence.checkpoint import Checkpoint, SigningKey, VerifierKey, parse_note, sign_checkpoint
from evidence.custody_verify import KnownCheckpoint, checkpoints_in_database
from evidence.errors import EvidenceError, ObjectExists
from evidence.models import CustodyCheckpoint, CustodyEvent, utcnow
from evidence.objectstore import ObjectStore

PREFIX = "custody/checkpoints/"


@dataclass(frozen=True)
class Signer:
    """The log's signing key; its name is the log's origin."""

    key: SigningKey

    @property
    def origin(self) -> str:
        return self.key.name

    @property
    def verifier(self) -> VerifierKey:
        return self.key.verifier


def log_size(session: Session) -> int:
    return session.scalar(select(func.coalesce(func.max(CustodyEvent.seq), 0))) or 0


def newest(session: Session) -> CustodyCheckpoint | None:
    """The checkpoint of the largest tree (the latest of them, when several)."""
    query = select(CustodyCheckpoint).order_by(CustodyCheckpoint.tree_size.desc(), CustodyCheckpoint.id.desc())
    return session.scalars(query.limit(1)).first()


def _key(size: int, root: bytes, ext: str) -> str:
    return f"{PREFIX}{size:016d}-{root.hex()[:16]}.{ext}"


def make(
    session: Session, signer: Signer, store: ObjectStore | None, *, force: bool = False, now: datetime | None = None
) -> CustodyCheckpoint | None:
    """Sign the log as it stands, in the caller's transaction; None when it has not grown (unless ``force``).

    The object-store copies are written first: if the transaction then fails, they are still true.
    """
    size = log_size(session)
    last = newest(session)
    if size == 0 or (last is not None and last.tree_size == size and not force):
        return None
    if last is not None and last.tree_size > size:
        # never sign a shorter log: it was cut off, and signing it would bless that
        return None
    root = custody_tree.StoredTree(session).root(size)
    made_at = now or utcnow()
    note = sign_checkpoint(Checkpoint(signer.origin, size, root, (f"time {custody_tree.iso(made_at)}",)), signer.key)
    stored_key = None
    if store is not None:
        earlier = select(func.max(CustodyCheckpoint.tree_size)).where(CustodyCheckpoint.tree_size < size)
        since = session.scalar(earlier) or 0
        with contextlib.suppress(ObjectExists):  # the same tree signed a moment ago by another process
            store.put_record(_key(size, root, "leaves"), _leaves(session, since, size))
        stored_key = _key(size, root, "note")
        try:
            store.put_record(stored_key, note.encode())
        except ObjectExists:
            # another process signed this very tree a moment ago: its note is as good, and write-once
            note = store.read_record(stored_key).decode()
    row = CustodyCheckpoint(
        tree_size=size,
        root_hash=root.hex(),
        made_at=made_at,
        origin=signer.origin,
        note=note,
        stored_key=stored_key,
    )
    session.add(row)
    session.flush()
    return row


def _leaves(session: Session, since: int, size: int) -> bytes:
    """The leaf hashes of events ``since + 1`` .. ``size``, 32 bytes each."""
    out = bytearray()
    query = (
        select(CustodyEvent.seq, CustodyEvent.hash, CustodyEvent.format)
        .where(CustodyEvent.seq > since, CustodyEvent.seq <= size)
        .order_by(CustodyEvent.seq)
    )
    # the stored hash columns, not ORM events: a first checkpoint of a large log reads every row
    for seq, h, fmt in session.execute(query.execution_options(yield_per=5000)):
        out += bytes.fromhex(h) if fmt != 1 else custody_tree.leaf_of(_event(session, seq))
    return bytes(out)


def _event(session: Session, seq: int) -> CustodyEvent:
    event = session.get(CustodyEvent, seq)
    assert event is not None
    return event


def stored(store: ObjectStore) -> list[KnownCheckpoint]:
    """The checkpoints copied to the object store (a copy that does not parse is still listed: verify names it)."""
    found = []
    for key, _ in store.list_keys(PREFIX):
        if not key.endswith(".note"):
            continue
        note = store.read_record(key).decode("utf-8", "replace")
        name = key.rsplit("/", 1)[-1]
        try:
            size = int(name.split("-", 1)[0])
            root = Checkpoint.parse(parse_note(note)[0]).root_hash
        except (ValueError, EvidenceError):
            size, root = -1, b""
        found.append(KnownCheckpoint(size=size, root=root, note=note, stored_key=key))
    return found


def stored_leaves(store: ObjectStore) -> Callable[[KnownCheckpoint], bytes | None]:
    """A reader of the leaf hashes saved beside each stored checkpoint (for ``custody_verify.verify``)."""

    def read(cp: KnownCheckpoint) -> bytes | None:
        try:
            return store.read_record(_key(cp.size, cp.root, "leaves"))
        except FileNotFoundError:
            return None

    return read


def proofs(
    session: Session, events: Sequence[CustodyEvent], checkpoint: CustodyCheckpoint
) -> list[dict[str, Any] | None]:
    """Each event's inclusion proof against ``checkpoint`` (None for an event it does not cover yet)."""
    size = checkpoint.tree_size
    covered = [ev.seq - 1 for ev in events if ev.seq <= size]
    found = dict(zip(covered, custody_tree.StoredTree(session).inclusion_proofs(covered, size), strict=True))
    return [custody_tree.describe(ev.seq - 1, size, found[ev.seq - 1]) if ev.seq <= size else None for ev in events]


def checkpoint_json(row: CustodyCheckpoint, verifier: VerifierKey | None = None) -> dict[str, Any]:
    """A checkpoint as served and exported: the signed note, and what it says."""
    out: dict[str, Any] = {
        "tree_size": row.tree_size,
        "root_hash": row.root_hash,
        "made_at": custody_tree.iso(row.made_at),
        "origin": row.origin,
        "note": row.note,
    }
    if verifier is not None:
        out["public_key"] = verifier.encode()
    return out


def item_proofs(session: Session, item_id: int, verifier: VerifierKey) -> dict[str, Any]:
    """One item's events, each with its leaf bytes and its inclusion proof against the newest checkpoint
    (null for an event newer than it), the checkpoint and the public key: all a verifier needs."""
    items.get_item(session, item_id)
    events = custody.log_for(session, item_id)
    cp = newest(session)
    found = proofs(session, events, cp) if cp is not None else [None] * len(events)
    return {
        "item_id": item_id,
        "checkpoint": checkpoint_json(cp) if cp is not None else None,
        "public_key": verifier.encode(),
        "events": [
            {**custody.as_dict(ev), "leaf": custody_tree.leaf_data(ev).decode(), "proof": p}
            for ev, p in zip(events, found, strict=True)
        ],
    }


def item_proofs_on(conn: Connection, item_id: int, verifier: VerifierKey) -> dict[str, Any]:
    """``item_proofs`` inside the caller's Core transaction (the API's read path)."""
    with Session(conn) as session:
        return item_proofs(session, item_id, verifier)


def mark_verified(session: Session, row_ids: list[int], at: datetime | None = None) -> None:
    """Record that a verification proved these checkpoints (``--since-checkpoint`` starts after them)."""
    if row_ids:
        for row in session.scalars(select(CustodyCheckpoint).where(CustodyCheckpoint.id.in_(row_ids))):
            row.verified_at = at or utcnow()


__all__ = [
    "PREFIX",
    "Signer",
    "checkpoints_in_database",
    "item_proofs",
    "log_size",
    "make",
    "mark_verified",
    "newest",
    "proofs",
    "stored",
]
