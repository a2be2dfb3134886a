"""The custody log as stored Merkle tree (RFC 9162): leaf bytes, stored subtree hashes, proofs.

Leaf ``i`` (0-based) is the custody event with ``seq = i + 1``; its bytes are the RFC 8785 canonical
JSON of the event (``leaf_data``), so that a recipient re-hashes an exported event line and needs no
software of ours. Two formats:

- format 2 (every event written since revision 0010): the event's fields, ``details`` as an object,
  ``"v": 2``. The leaf hash is stored in the event's ``hash`` column.
- format 1 (events written before): the old hash-chain fields, ``details`` as the stored text,
  ``prev_hash`` and ``hash`` (the chain hash), ``"v": 1``; the leaf hash is derived when needed.

Every complete, aligned subtree at level 1 and up is stored in ``custody_nodes`` as it completes (in
the appending transaction), so a root or proof at any size is O(log n) index seeks, never a walk.
The bytes are built by string assembly, not by a general canonicaliser: RFC 8785 of these shapes is
exactly this (keys in order, strings escaped as JSON does, ``details`` already RFC 8785 text); the
tests hold the two equal over many events.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from json.encoder import encode_basestring
from typing import Any

from sqlalchemy import Select, and_, bindparam, insert, or_, select
from sqlalchemy.orm import Session

from evidence.merkle import EMPTY_ROOT, node_hash
from evidence.models import CustodyEvent, CustodyNode

_sha256 = hashlib.sha256
_INSERT_NODES = insert(CustodyNode)  # run on the Connection: Core executemany, no ORM flush
_json_str = encode_basestring  # RFC 8785 string escaping: the same as json's, UTF-8 kept as is


@dataclass
class EventRecord:
    """One event's columns as plain values: what ``custody.append`` wrote, or a row the verifier read."""

    seq: int
    item_id: int | None
    case_id: int | None
    kind: str
    outcome: str
    agent: str
    tool: str | None
    occurred_at: datetime
    recorded_at: datetime | None
    details: str
    format: int
    prev_hash: str
    hash: str


EventRow = CustodyEvent | EventRecord  # what a leaf is built from: a stored event or its plain values


def iso(moment: datetime) -> str:
    """An event time as the log writes it: UTC, microseconds, ``Z``.

    The same text as ``strftime("%Y-%m-%dT%H:%M:%S.%fZ")`` (years 1000-9999), at a sixth of the cost:
    a verifier formats two times per event.
    """
    return moment.isoformat(timespec="microseconds")[:26] + "Z"


def canonical_json(value: Any) -> str:
    """The canonical form format-1 (pre-0010) events were hashed over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def event_hash(
    *,
    seq: int,
    prev_hash: str,
    item_id: int | None,
    kind: str,
    outcome: str,
    agent: str,
    tool: str | None,
    occurred_at: datetime,
    details: str,
    case_id: int | None = None,
) -> str:
    """The hash-chain hash of a format-1 event (written before revision 0010): SHA-256 over the
    canonical form of its fields and its predecessor's hash."""
    fields = {
        "seq": seq,
        "prev": prev_hash,
        "item": item_id,
        "kind": kind,
        "outcome": outcome,
        "agent": agent,
        "tool": tool,
        "at": iso(occurred_at),
        "details": details,
    }
    if case_id is not None:  # added in schema 0003; events without a case hash as before
        fields["case"] = case_id
    return hashlib.sha256(canonical_json(fields).encode()).hexdigest()


def _int(value: int | None) -> str:
    return "null" if value is None else str(int(value))


def _str(value: str | None) -> str:
    return "null" if value is None else _json_str(value)


def leaf_data_v2(
    seq: int,
    item_id: int | None,
    case_id: int | None,
    kind: str,
    outcome: str,
    agent: str,
    tool: str | None,
    occurred_at: str,
    recorded_at: str,
    details: str,
) -> bytes:
    """The RFC 8785 bytes of a format-2 event (times already in ``iso`` form, ``details`` RFC 8785 text)."""
    return (
        f'{{"agent":{_json_str(agent)},"case":{_int(case_id)},"details":{details},"item":{_int(item_id)},'
        f'"kind":{_json_str(kind)},"occurred_at":"{occurred_at}","outcome":{_json_str(outcome)},'
        f'"recorded_at":"{recorded_at}","seq":{int(seq)},"tool":{_str(tool)},"v":2}}'
    ).encode()


def leaf_data_v1(ev: EventRow) -> bytes:
    """The RFC 8785 bytes of a format-1 event: its hash-chain fields, details as text."""
    return (
        f'{{"agent":{_json_str(ev.agent)},"case":{_int(ev.case_id)},"details":{_json_str(ev.details)},'
        f'"hash":{_json_str(ev.hash)},"item":{_int(ev.item_id)},"kind":{_json_str(ev.kind)},'
        f'"occurred_at":"{iso(ev.occurred_at)}","outcome":{_json_str(ev.outcome)},'
        f'"prev_hash":{_json_str(ev.prev_hash)},"seq":{int(ev.seq)},"tool":{_str(ev.tool)},"v":1}}'
    ).encode()


def leaf_data(ev: EventRow) -> bytes:
    """The leaf bytes of one stored event, by its format."""
    if ev.format == 1:
        return leaf_data_v1(ev)
    recorded = ev.recorded_at if ev.recorded_at is not None else ev.occurred_at
    return leaf_data_v2(
        ev.seq,
        ev.item_id,
        ev.case_id,
        ev.kind,
        ev.outcome,
        ev.agent,
        ev.tool,
        iso(ev.occurred_at),
        iso(recorded),
        ev.details,
    )


def leaf_of(ev: EventRow) -> bytes:
    """The RFC 9162 leaf hash of one stored event (computed from its fields, not read from ``hash``)."""
    return _sha256(b"\x00" + leaf_data(ev)).digest()


def largest_power_below(n: int) -> int:
    """The largest power of two strictly below ``n`` (n >= 2): RFC 9162's split point."""
    return 1 << ((n - 1).bit_length() - 1)


def range_nodes(lo: int, hi: int) -> list[tuple[int, int]]:
    """The complete aligned subtrees, as (level, index), that make up leaves ``[lo, hi)``, left to right.

    Every range a proof asks for starts at a multiple of its largest part (RFC 9162's splits), so the
    parts are the set bits of ``hi - lo``, largest first.
    """
    parts = []
    while lo < hi:
        level = (hi - lo).bit_length() - 1
        if lo % (1 << level):
            raise ValueError(f"leaves [{lo}, {hi}) do not start on a subtree boundary")
        parts.append((level, lo >> level))
        lo += 1 << level
    return parts


def fold(hashes: Sequence[bytes]) -> bytes:
    """The MTH of consecutive perfect subtrees, largest first (RFC 9162 splits the right part last)."""
    if not hashes:
        return EMPTY_ROOT
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose hashes form PATH(index, D[size]) (RFC 9162 §2.1.3.1), leaf end first."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is outside a log of {size}")
    ranges = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = largest_power_below(hi - lo)
        if index < lo + k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
    return ranges[::-1]


def consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose hashes form PROOF(old_size, D[new_size]) (RFC 9162 §2.1.4.1)."""
    if not 0 <= old_size <= new_size:
        raise ValueError(f"old size {old_size} is outside 0..{new_size}")
    if old_size in (0, new_size):
        return []
    lo, hi, m, whole_old_tree = 0, new_size, old_size, True
    after: list[tuple[int, int]] = []
    while m != hi - lo:
        k = largest_power_below(hi - lo)
        if m <= k:
            after.append((lo + k, hi))
            hi = lo + k
        else:
            after.append((lo, lo + k))
            lo, m, whole_old_tree = lo + k, m - k, False
    first = [] if whole_old_tree else [(lo, hi)]
    return first + after[::-1]


@functools.cache
def _nodes_query(levels: int) -> Select[int, int, bytes]:
    """Stored nodes at ``levels`` levels, an index list for each: ``level = ? AND idx IN (...)`` per level.

    Not ``(level, idx) IN (...)``: SQLite answers that with a scan of the whole table (O(n) per proof
    and per append). Built once per number of levels, so its compiled form is reused.
    """
    n = CustodyNode
    where = or_(*(and_(n.level == bindparam(f"l{j}"), n.idx.in_(bindparam(f"i{j}"))) for j in range(levels)))
    return select(n.level, n.idx, n.hash).where(where)


_PAIRS = 64
# built once: constructing a select per call was half the time of a proof
_LEAVES = select(CustodyEvent.seq, CustodyEvent.hash, CustodyEvent.format).where(
    CustodyEvent.seq.in_(bindparam("seqs", expanding=True))
)


@functools.cache
def _pairs_query(count: int) -> Select[int, int, bytes]:
    """Stored nodes ``(level, idx)``, ``count`` of them, as ``level = ? AND idx = ?`` terms (index seeks)."""
    n = CustodyNode
    where = or_(*(and_(n.level == bindparam(f"l{j}"), n.idx == bindparam(f"i{j}")) for j in range(count)))
    return select(n.level, n.idx, n.hash).where(where)


class StoredTree:
    """Subtree hashes read from the database, fetched in one round trip per question.

    ``repair``: a missing stored node is computed from its children and stored (a log written before
    revision 0010, or built in a writing transaction); otherwise it is only computed.
    """

    def __init__(self, session: Session, repair: bool = False) -> None:
        self.session = session
        self.repair = repair

    def leaves(self, indexes: Iterable[int]) -> dict[int, bytes]:
        seqs = sorted({i + 1 for i in indexes})
        if not seqs:
            return {}
        found: dict[int, bytes] = {}
        rows = self.session.connection().execute(_LEAVES, {"seqs": seqs})
        for seq, h, fmt in rows:
            if fmt == 1:  # the column holds the chain hash: derive the leaf from the whole event
                event = self.session.get(CustodyEvent, seq)
                assert event is not None
                found[seq - 1] = leaf_of(event)
            else:
                found[seq - 1] = bytes.fromhex(h)
        missing = [s - 1 for s in seqs if s - 1 not in found]
        if missing:
            raise LookupError(f"custody event {missing[0] + 1} is missing")
        return found

    def nodes(self, keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """The hashes of complete subtrees ``(level, index)``; level 0 is a leaf."""
        wanted = set(keys)
        out: dict[tuple[int, int], bytes] = {}
        leaves = [idx for level, idx in wanted if level == 0]
        out.update({(0, i): h for i, h in self.leaves(leaves).items()})
        upper = [k for k in wanted if k[0] > 0]
        if upper:
            params: dict[str, Any] = {}
            if len(upper) <= _PAIRS:  # a proof or an append: plain parameters, nothing to expand per call
                for j, (level, idx) in enumerate(upper):
                    params[f"l{j}"], params[f"i{j}"] = level, idx
                query = _pairs_query(len(upper))
            else:
                by_level: dict[int, list[int]] = {}
                for level, idx in upper:
                    by_level.setdefault(level, []).append(idx)
                for j, (level, idxs) in enumerate(by_level.items()):
                    params[f"l{j}"], params[f"i{j}"] = level, idxs
                query = _nodes_query(len(by_level))
            rows = self.session.connection().execute(query, params)
            out.update({(level, idx): bytes(h) for level, idx, h in rows})
        for level, idx in upper:
            if (level, idx) not in out:
                out[(level, idx)] = self._compute(level, idx)
        return out

    def _compute(self, level: int, idx: int) -> bytes:
        children = self.nodes([(level - 1, 2 * idx), (level - 1, 2 * idx + 1)])
        h = node_hash(children[(level - 1, 2 * idx)], children[(level - 1, 2 * idx + 1)])
        if self.repair:
            self.session.add(CustodyNode(level=level, idx=idx, hash=h))
            self.session.flush()
        return h

    def range_hashes(self, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
        """The MTH of each leaf range, with every stored node they need fetched at once."""
        plans = [range_nodes(lo, hi) for lo, hi in ranges]
        got = self.nodes(k for plan in plans for k in plan)
        return [fold([got[k] for k in plan]) for plan in plans]

    def root(self, size: int) -> bytes:
        """The MTH of the first ``size`` events."""
        return self.range_hashes([(0, size)])[0] if size else EMPTY_ROOT

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        return self.range_hashes(inclusion_ranges(index, size))

    def inclusion_proofs(self, indexes: Sequence[int], size: int) -> list[list[bytes]]:
        """Several leaves' proofs in one size, their nodes fetched together."""
        plans = [inclusion_ranges(i, size) for i in indexes]
        flat = self.range_hashes([r for plan in plans for r in plan])
        out, at = [], 0
        for plan in plans:
            out.append(flat[at : at + len(plan)])
            at += len(plan)
        return out

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        return self.range_hashes(consistency_ranges(old_size, new_size))

    def frontier(self, size: int) -> list[bytes]:
        """The perfect subtrees of the first ``size`` events, largest first (a ``CompactRange``'s state)."""
        plan = range_nodes(0, size)
        got = self.nodes(plan)
        return [got[k] for k in plan]


def record_leaf(session: Session, index: int, leaf: bytes, prev_leaf: bytes | None) -> None:
    """Store the subtrees that leaf ``index`` completes, in the appending transaction.

    ``prev_leaf`` is leaf ``index - 1`` (the caller has it at hand); higher left siblings are read.
    """
    if not index & 1:
        return
    assert prev_leaf is not None
    levels = []
    i, level = index, 0
    while i & 1:
        level += 1
        i >>= 1
        levels.append((level, i))
    wanted = [(lv - 1, 2 * ix) for lv, ix in levels[1:]]
    conn = session.connection()
    dialect = conn.dialect.name
    # the driver's own statements: this runs under the log's write lock (see custody.append)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        lefts: dict[tuple[int, int], bytes] = {}
        if wanted:
            cursor.execute(_select_pairs_sql(dialect, len(wanted)), [v for pair in wanted for v in pair])
            lefts = {(level, idx): bytes(h) for level, idx, h in cursor.fetchall()}
            if len(lefts) < len(wanted):  # a log written before revision 0010: computed and stored
                lefts.update(StoredTree(session, repair=True).nodes(k for k in wanted if k not in lefts))
        h = node_hash(prev_leaf, leaf)
        rows = [{"level": 1, "idx": levels[0][1], "hash": h}]
        for level, idx in levels[1:]:
            h = node_hash(lefts[(level - 1, 2 * idx)], h)
            rows.append({"level": level, "idx": idx, "hash": h})
        cursor.executemany(_INSERT_NODES_SQL[dialect], rows)
    finally:
        cursor.close()


_INSERT_NODES_SQL = {
    "sqlite": "INSERT INTO custody_nodes (level, idx, hash) VALUES (:level, :idx, :hash)",
    "postgresql": "INSERT INTO custody_nodes (level, idx, hash) VALUES (%(level)s, %(idx)s, %(hash)s)",
}


@functools.cache
def _select_pairs_sql(dialect: str, count: int) -> str:
    """``count`` stored nodes by ``(level, idx)``, positional parameters in that order (index seeks)."""
    mark = "?" if dialect == "sqlite" else "%s"
    terms = " OR ".join([f"(level = {mark} AND idx = {mark})"] * count)
    return f"SELECT level, idx, hash FROM custody_nodes WHERE {terms}"


def store_nodes(session: Session, leaves: Iterable[bytes]) -> int:
    """Store every complete subtree over ``leaves`` (the whole log, from leaf 0); returns the leaf count."""
    session.flush()
    conn, insert_node = session.connection(), _INSERT_NODES
    stack: list[bytes] = []
    batch: list[dict[str, Any]] = []
    count = 0
    for i, h in enumerate(leaves):
        n, level = i, 0
        while n & 1:
            h = node_hash(stack.pop(), h)
            n, level = n >> 1, level + 1
            batch.append({"level": level, "idx": n, "hash": h})
        stack.append(h)
        count = i + 1
        if len(batch) >= 5000:  # Core executemany: a million-event log is ~20 s of ORM flushes otherwise
            conn.execute(insert_node, batch)
            batch = []
    if batch:
        conn.execute(insert_node, batch)
    return count


def proof_json(proof: Sequence[bytes]) -> list[str]:
    return [h.hex() for h in proof]


def describe(index: int, size: int, proof: Sequence[bytes]) -> dict[str, Any]:
    """An inclusion proof as exported and served: leaf index, tree size, hex hashes."""
    return {"leaf_index": index, "tree_size": size, "hashes": proof_json(proof)}
