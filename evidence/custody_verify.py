"""Verifying the custody log: every event against its leaf, the tree against every signed checkpoint.

Read-only: run it in a read-only unit of work and it takes no write lock, so ingest goes on.

What each check catches:
- an event whose fields no longer give its stored leaf hash: edited (named by its ``seq``);
- a gap in ``seq``: deleted or renumbered events; a ``prev_hash`` that is not its predecessor's hash:
  inserted, deleted or reordered events;
- a root at a checkpoint's size that is not the signed root: the log was rewritten and every hash
  recomputed to match (the first bad position comes from the leaf hashes stored beside that
  checkpoint in the object store, or is bounded by the checkpoints around it);
- fewer events than a checkpoint covers: the tail was cut off;
- a checkpoint not signed by the log's key, two checkpoints of one size that disagree, or a
  checkpoint that is not an extension of the one before (consistency proof).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from json.encoder import encode_basestring
from typing import Any, Protocol

from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from evidence import custody_tree, merkle
from evidence.checkpoint import Checkpoint, VerifierKey, open_checkpoint, parse_note
from evidence.errors import CustodyBroken
from evidence.models import CustodyCheckpoint, CustodyEvent

GENESIS = "0" * 64
_sha256 = hashlib.sha256
_json_str = encode_basestring
_BATCH = 10_000
_LINK_BROKEN = "link broken: prev_hash is not the previous event's hash (inserted, deleted or reordered)"
# Raw driver rows, not ORM-typed ones: converting two times per event cost more than hashing it. The times
# come as SQLite's stored text, which PostgreSQL's to_char gives too, so one leaf builder serves both.
_COLUMNS = "seq, item_id, case_id, kind, outcome, agent, tool, {occurred}, {recorded}, details, format, prev_hash, hash"
_PG_TIME = "to_char({0}, 'YYYY-MM-DD HH24:MI:SS.US')"
_PG_COLUMNS = _COLUMNS.format(occurred=_PG_TIME.format("occurred_at"), recorded=_PG_TIME.format("recorded_at"))
_SQLITE_COLUMNS = _COLUMNS.format(occurred="occurred_at", recorded="recorded_at")
_SELECT = "SELECT {columns} FROM custody_events WHERE seq > {mark} AND seq <= {mark} ORDER BY seq"
_NO_END = 2**62
# With a ``helper``, a log longer than this is split in two and the second part checked by another process
# (~1-2 s to start and import, which a shorter walk does not win back). Its leaf hashes come back for the tree.
_PARALLEL_MIN = 1 << 18


@dataclass
class KnownCheckpoint:
    """A checkpoint the verifier holds: from the database, the object store, or both."""

    size: int
    root: bytes
    note: str
    row_id: int | None = None  # its custody_checkpoints row; None: only in the object store
    stored_key: str | None = None
    verified_at: datetime | None = None


@dataclass
class VerifyReport:
    ok: bool
    checked: int  # events whose leaf was recomputed
    size: int  # events in the log
    head_hash: str
    bad_seq: int | None = None
    reason: str | None = None
    checkpoints: int = 0  # checkpoints that matched the log
    signed_size: int = 0  # events covered by the newest checkpoint that matched
    started_at: int = 0  # events taken on trust from a verified checkpoint (``--since-checkpoint``)
    warnings: list[str] = field(default_factory=list)
    verified_ids: list[int] = field(default_factory=list)  # checkpoint rows this run proved

    @property
    def unsigned(self) -> int:
        """Events after the newest checkpoint: verified, but not yet covered by a signature."""
        return self.size - self.signed_size


class _Bad(Exception):
    def __init__(self, seq: int | None, reason: str):
        super().__init__(reason)
        self.seq, self.reason = seq, reason


def _when(value: Any) -> datetime:
    """A stored time as the ORM gives it: aware UTC (SQLite returns text, PostgreSQL naive datetimes)."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC)


def checkpoints_in_database(session: Session) -> list[KnownCheckpoint]:
    rows = session.scalars(select(CustodyCheckpoint).order_by(CustodyCheckpoint.tree_size, CustodyCheckpoint.id))
    return [
        KnownCheckpoint(
            size=r.tree_size,
            root=bytes.fromhex(r.root_hash),
            note=r.note,
            row_id=r.id,
            stored_key=r.stored_key,
            verified_at=r.verified_at,
        )
        for r in rows
    ]


def _open(cp: KnownCheckpoint, verifier: VerifierKey | None, origin: str | None) -> Checkpoint:
    where = f"checkpoint at size {cp.size}" + (f" (row {cp.row_id})" if cp.row_id else f" ({cp.stored_key})")
    try:
        if verifier is None:
            body, _ = parse_note(cp.note)
            parsed = Checkpoint.parse(body)
        else:
            parsed = open_checkpoint(cp.note, verifier, origin)
    except CustodyBroken as exc:
        raise _Bad(None, f"{where}: {exc}") from exc
    if parsed.size != cp.size or parsed.root_hash != cp.root:
        raise _Bad(None, f"{where}: its row says size {cp.size}, root {cp.root.hex()}, but its signed note differs")
    return parsed


def _merge(db: list[KnownCheckpoint], stored: Sequence[KnownCheckpoint]) -> list[KnownCheckpoint]:
    """One checkpoint per size: two that disagree is a fork, which nothing honest produces."""
    by_size: dict[int, KnownCheckpoint] = {}
    for cp in [*db, *stored]:
        seen = by_size.get(cp.size)
        if seen is None:
            by_size[cp.size] = cp
        elif seen.root != cp.root:
            raise _Bad(None, f"two checkpoints of size {cp.size} disagree: the log was forked or rewritten")
        elif seen.row_id is None and cp.row_id is not None:
            by_size[cp.size] = cp
    return [by_size[s] for s in sorted(by_size)]


def _batches(conn: Connection, after_seq: int, upto: int = _NO_END) -> Iterator[Sequence[Sequence[Any]]]:
    """The events ``after_seq < seq <= upto`` in order, in lists of ``_BATCH`` raw rows.

    Executed through SQLAlchemy (its events see it), then read from the DB-API cursor: SQLAlchemy's rows
    cost ~1 µs each. PostgreSQL streams through a server-side cursor, so memory stays flat; SQLAlchemy
    may have buffered its first row, so the first batch is taken through it.
    """
    pg = conn.dialect.name == "postgresql"
    sql = _SELECT.format(columns=_PG_COLUMNS if pg else _SQLITE_COLUMNS, mark="%s" if pg else "?")
    options = {"stream_results": True, "yield_per": _BATCH} if pg else {}
    result = conn.exec_driver_sql(sql, (after_seq, upto), execution_options=options)
    try:
        first = result.fetchmany(_BATCH)
        if first:
            yield first
        if len(first) == _BATCH:
            cursor = result.cursor
            while batch := cursor.fetchmany(_BATCH):
                yield batch
    finally:
        result.close()


@dataclass
class RangeCheck:
    """What ``check_range`` found: the leaf hashes up to the first bad event, and that event."""

    leaves: bytes  # 32 bytes each, in order
    first_prev: str | None  # prev_hash of the range's first event, when present (the caller checks the link)
    last_hash: str | None
    bad: tuple[int | None, str] | None = None


class Pending(Protocol):
    """A ``check_range`` running elsewhere."""

    def result(self) -> RangeCheck: ...

    def cancel(self) -> object: ...


Helper = Callable[[int, int], Pending]
"""Starts ``check_range(conn, after_seq, upto)`` in another process (the wiring's: ``cli/custody_workers.py``)."""


def check_range(conn: Connection, after_seq: int, upto: int) -> RangeCheck:
    """Check events ``after_seq < seq <= upto`` (a helper process's part of a long log)."""
    leaves: list[bytes] = []
    first_prev: str | None = None
    last, expected, bad = "", after_seq + 1, None
    try:
        for batch in _batches(conn, after_seq, upto):
            if expected == after_seq + 1 and batch[0][0] == expected:  # the link to the part before
                first_prev = last = batch[0][11]
            expected, last = _scan(batch, expected, last, leaves)
        if expected <= upto:
            raise _Bad(expected, f"event {expected} is missing (deleted, or the events after it renumbered)")
    except _Bad as exc:
        bad = (exc.seq, exc.reason)
    return RangeCheck(b"".join(leaves), first_prev, last or None, bad)


def _split(session: Session, start: int, helper: Helper | None) -> tuple[int, int] | None:
    """Where to split the walk for ``helper`` (None: walk it all here)."""
    if helper is None:
        return None
    end = session.scalar(select(func.max(CustodyEvent.seq))) or 0
    if end - start < _PARALLEL_MIN:
        return None
    # this process starts at once, the helper after its ~1 s start-up: this one takes a little more
    return start + (end - start) * 11 // 20, end


def _scan(rows: Sequence[Sequence[Any]], expected: int, prev: str, leaves: list[bytes]) -> tuple[int, str]:
    """Check one batch of events in order, appending each one's leaf hash to ``leaves``; returns the next
    expected ``seq`` and the last event's hash. Raises ``_Bad`` at the first bad event.

    The hot path builds the leaf as ``custody_tree.leaf_data_v2`` does, inlined, with a stored time
    ``YYYY-MM-DD HH:MM:SS.ffffff`` rearranged into ``custody_tree.iso``'s text instead of parsed. Any other
    shape (format 1, another time text, a non-integer id) and any mismatch goes to ``_slow``, which decides
    with the library's own functions: an event is never called altered by this path.
    """
    q, sha = _json_str, _sha256
    for row in rows:
        seq, item_id, case_id, kind, outcome, agent, tool, occurred, recorded, details, fmt, prev_hash, leaf_hex = row
        if seq != expected:
            raise _Bad(expected, f"event {expected} is missing (deleted, or the events after it renumbered)")
        if prev_hash != prev:
            raise _Bad(seq, _LINK_BROKEN)
        if recorded is None:
            recorded = occurred
        try:
            # the stored shape only, and no quote or backslash: a time stays inside its JSON string, as
            # every other field stays in its token, so equal hashes mean equal fields
            if (
                fmt != 2
                or not len(occurred) == len(recorded) == 26
                or not occurred[10] == recorded[10] == " "
                or '"' in occurred
                or '"' in recorded
                or "\\" in occurred
                or "\\" in recorded
            ):
                raise ValueError
            leaf = sha(
                (
                    f'\x00{{"agent":{q(agent)},"case":{"null" if case_id is None else f"{case_id:d}"},'
                    f'"details":{details},"item":{"null" if item_id is None else f"{item_id:d}"},'
                    f'"kind":{q(kind)},"occurred_at":"{occurred[:10]}T{occurred[11:]}Z","outcome":{q(outcome)},'
                    f'"recorded_at":"{recorded[:10]}T{recorded[11:]}Z","seq":{seq:d},'
                    f'"tool":{"null" if tool is None else q(tool)},"v":2}}'
                ).encode()
            ).digest()
            if leaf.hex() != leaf_hex:
                raise ValueError
        except (TypeError, ValueError):
            leaf = _slow(row)
        leaves.append(leaf)
        prev = leaf_hex
        expected += 1
    return expected, prev


def _slow(row: Sequence[Any]) -> bytes:
    """The leaf hash of one event by ``custody_tree``'s own functions; ``_Bad`` if its fields do not give its hash."""
    seq, item_id, case_id, kind, outcome, agent, tool, occurred, recorded, details, fmt, prev_hash, leaf_hex = row
    try:
        when_recorded = None if recorded is None else _when(recorded)
        event = custody_tree.EventRecord(
            seq, item_id, case_id, kind, outcome, agent, tool, _when(occurred), when_recorded, details, fmt,
            prev_hash, leaf_hex,
        )  # fmt: skip
        leaf = custody_tree.leaf_of(event)
    except (TypeError, ValueError) as exc:  # a text in an integer column, say: stored by hand
        raise _Bad(seq, f"content altered: a field is not of its type ({exc})") from exc
    if fmt == 1:
        _check_chain_hash(event)
    elif leaf.hex() != leaf_hex:
        raise _Bad(seq, "content altered: the event's fields do not give its hash")
    return leaf


def verify(
    session: Session,
    *,
    verifier: VerifierKey | None = None,
    origin: str | None = None,
    stored: Sequence[KnownCheckpoint] = (),
    since_checkpoint: bool = False,
    stored_leaves: Callable[[KnownCheckpoint], bytes | None] = lambda cp: None,
    helper: Helper | None = None,
) -> VerifyReport:
    """Check the whole log (or, ``since_checkpoint``, what follows the last verified checkpoint).

    ``verifier``: the log's public key; without it checkpoints are compared but their signatures are not
    checked. ``stored``: the checkpoints copied to the object store. ``stored_leaves``: the leaf hashes
    saved beside a checkpoint, to name the first rewritten event. ``helper``: checks the second part of a
    long log in another process (a log shorter than ``_PARALLEL_MIN`` is checked all here).
    """
    report = VerifyReport(ok=True, checked=0, size=0, head_hash=GENESIS)
    try:
        _verify(session, report, verifier, origin, stored, since_checkpoint, stored_leaves, helper)
    except _Bad as bad:
        report.ok, report.bad_seq, report.reason = False, bad.seq, bad.reason
    return report


def _verify(
    session: Session,
    report: VerifyReport,
    verifier: VerifierKey | None,
    origin: str | None,
    stored: Sequence[KnownCheckpoint],
    since_checkpoint: bool,
    stored_leaves: Callable[[KnownCheckpoint], bytes | None],
    helper: Helper | None,
) -> None:
    tree = custody_tree.StoredTree(session)
    cps = _merge(checkpoints_in_database(session), stored)
    for cp in cps:
        _open(cp, verifier, origin)

    frontier = merkle.CompactRange()
    prev = GENESIS
    if since_checkpoint:
        start = max((cp for cp in cps if cp.verified_at is not None), key=lambda cp: cp.size, default=None)
        if start is not None and _has(session, start.size):
            hashes = tree.frontier(start.size)
            if custody_tree.fold(hashes) != start.root:
                raise _Bad(None, f"the stored tree at size {start.size} does not match its verified checkpoint")
            frontier = merkle.CompactRange(start.size, hashes)
            prev = session.scalar(select(CustodyEvent.hash).where(CustodyEvent.seq == start.size)) or GENESIS
            report.started_at = report.signed_size = start.size
            report.checkpoints = 1
    pending = [cp for cp in cps if cp.size > frontier.size]
    segment_start, segment = frontier.size, bytearray()

    def absorb(leaves: list[bytes]) -> None:
        """Add checked leaves to the tree, comparing its root with each checkpoint as the size reaches it."""
        nonlocal segment_start, segment
        at = 0
        while at < len(leaves):
            stop = len(leaves) if not pending else min(len(leaves), at + pending[0].size - frontier.size)
            part = leaves[at:stop]
            frontier.extend(part)
            report.checked += len(part)
            segment += b"".join(part)
            at = stop
            while pending and pending[0].size == frontier.size:
                cp = pending.pop(0)
                if frontier.root() != cp.root:
                    raise _Bad(*_first_rewritten(cp, segment_start, bytes(segment), stored_leaves))
                if cp.row_id is not None:
                    report.verified_ids.append(cp.row_id)
                report.checkpoints += 1
                report.signed_size = cp.size
                segment_start, segment = frontier.size, bytearray()

    split = _split(session, frontier.size, helper)
    if split is None:
        expected, prev = _walk(session, frontier.size, _NO_END, prev, absorb, report)
    else:
        mid, end = split
        assert helper is not None
        other = helper(mid, end)
        try:
            expected, prev = _walk(session, frontier.size, mid, prev, absorb, report)
            part = other.result()
        finally:
            other.cancel()  # a no-op once answered; else the walk here failed and its answer is not needed
        if expected != mid + 1:
            raise _Bad(expected, f"event {expected} is missing (deleted, or the events after it renumbered)")
        if part.first_prev is not None and part.first_prev != prev:
            raise _Bad(mid + 1, _LINK_BROKEN)
        leaves = [part.leaves[i : i + 32] for i in range(0, len(part.leaves), 32)]
        absorb(leaves)
        if part.bad is not None:
            raise _Bad(*part.bad)
        prev = part.last_hash or prev
        # events appended since the split was chosen
        expected, prev = _walk(session, end, _NO_END, prev, absorb, report)
    report.size, report.head_hash = frontier.size, prev
    # every checkpoint the walk reached matched the recomputed tree, so each extends the one before;
    # those before a ``since_checkpoint`` start are proven so with the stored tree (its frontier matched)
    for older, newer in zip(cps, cps[1:], strict=False):
        if newer.size > frontier.size:
            break
        proof = tree.consistency_proof(older.size, newer.size)
        if not merkle.verify_consistency(older.size, newer.size, proof, older.root, newer.root):
            raise _Bad(None, f"checkpoint at size {newer.size} is not an extension of the one at size {older.size}")
    if pending:
        cp = pending[0]
        raise _Bad(
            frontier.size + 1,
            f"log truncated: a checkpoint covers {cp.size} events, only {frontier.size} are present",
        )
    if report.unsigned:
        report.warnings.append(f"{report.unsigned} events after the newest checkpoint are not yet signed")


def _walk(
    session: Session,
    after_seq: int,
    upto: int,
    prev: str,
    absorb: Callable[[list[bytes]], None],
    report: VerifyReport,
) -> tuple[int, str]:
    """Check events ``after_seq < seq <= upto`` in this process; returns the next expected seq and the last hash."""
    expected = after_seq + 1
    for batch in _batches(session.connection(), after_seq, upto):
        leaves: list[bytes] = []
        try:
            expected, prev = _scan(batch, expected, prev, leaves)
        except _Bad:
            absorb(leaves)  # a checkpoint before the bad event that does not match is the earlier fault
            raise
        absorb(leaves)
    return expected, prev


def _has(session: Session, size: int) -> bool:
    return size == 0 or session.scalar(select(CustodyEvent.seq).where(CustodyEvent.seq == size)) is not None


def _check_chain_hash(row: custody_tree.EventRow) -> None:
    recomputed = custody_tree.event_hash(
        seq=row.seq,
        prev_hash=row.prev_hash,
        item_id=row.item_id,
        kind=row.kind,
        outcome=row.outcome,
        agent=row.agent,
        tool=row.tool,
        occurred_at=row.occurred_at,
        details=row.details,
        case_id=row.case_id,
    )
    if recomputed != row.hash:
        raise _Bad(row.seq, "content altered: the event's fields do not give its hash (format 1)")


def _first_rewritten(
    cp: KnownCheckpoint, start: int, computed: bytes, stored_leaves: Callable[[KnownCheckpoint], bytes | None]
) -> tuple[int | None, str]:
    """Where a self-consistent but rewritten log first departs from what checkpoint ``cp`` signed."""
    saved = stored_leaves(cp)
    if saved is not None and len(saved) == len(computed):
        for i in range(0, len(computed), 32):
            if saved[i : i + 32] != computed[i : i + 32]:
                seq = start + i // 32 + 1
                return seq, (
                    f"event {seq} differs from what the checkpoint at size {cp.size} signed "
                    "(the log was rewritten and its hashes recomputed)"
                )
    return start + 1, (
        f"the log does not match the checkpoint at size {cp.size}: an event from {start + 1} to {cp.size} "
        "was rewritten and the hashes recomputed"
    )
