"""The Merkle tree of RFC 9162 §2.1 (Certificate Transparency v2) over SHA-256: pure functions, no storage.

A log of ``n`` entries has leaf hashes ``leaf_hash(entry)`` = SHA-256(0x00 ‖ entry) and interior nodes
``node_hash(left, right)`` = SHA-256(0x01 ‖ left ‖ right); its root is the Merkle Tree Hash (MTH) of §2.1.1,
the root of an empty log is SHA-256 of the empty string. On top of that:

- ``inclusion_proof`` / ``verify_inclusion``: the audit path of one entry (§2.1.3.1 PATH, §2.1.3.2);
- ``consistency_proof`` / ``verify_consistency``: that the log at ``old_size`` is a prefix of the log at
  ``new_size`` (§2.1.4.1 PROOF/SUBPROOF, §2.1.4.2);
- ``MerkleTree``: every level of a tree kept in memory, so that many proofs cost O(log n) each after one O(n)
  build (module functions are that tree built once and asked once);
- ``CompactRange``: the "frontier" of a growing log (one hash per set bit of its size), appended to leaf by leaf
  in O(1) amortised time and O(log n) memory, whose ``root()`` is the MTH so far: a verifier streams a log of any
  length through it and compares the root with each signed checkpoint as the size reaches it.

Nothing here recurses per leaf or per level: a 1,000,000-leaf tree is 20 levels, walked in loops.
Hashes are ``bytes`` of 32; sizes and indexes are ``int`` (0-based).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactRange",
    "MerkleTree",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
"""The MTH of the empty tree (RFC 9162 §2.1.1): SHA-256 of the empty string."""

_sha256 = hashlib.sha256
_LEAF = b"\x00"
_NODE = b"\x01"


def leaf_hash(data: bytes) -> bytes:
    """The hash of one log entry: SHA-256(0x00 ‖ data)."""
    return _sha256(_LEAF + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an interior node: SHA-256(0x01 ‖ left ‖ right)."""
    return _sha256(_NODE + left + right).digest()


def _next_level(level: Sequence[bytes]) -> list[bytes]:
    """Pair up one level's nodes; an odd last node is carried up as it is (this gives the MTH's split)."""
    sha = _sha256
    upper = [sha(_NODE + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
    if len(level) % 2:
        upper.append(level[-1])
    return upper


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """The Merkle Tree Hash of a whole log given its leaf hashes (RFC 9162 §2.1.1)."""
    if not leaf_hashes:
        return EMPTY_ROOT
    level: Sequence[bytes] = leaf_hashes
    while len(level) > 1:
        level = _next_level(level)
    return level[0]


class MerkleTree:
    """Every level of the tree over ``leaf_hashes``, built once in O(n); then roots and proofs in O(log n).

    ``levels[h][i]`` is the MTH of the leaves ``[i·2^h, min((i+1)·2^h, n))``: a node whose range runs past the
    end of the log is its last node at that height, which the RFC's split makes equal to the lower node it
    was carried up from.
    """

    __slots__ = ("levels",)

    def __init__(self, leaf_hashes: Sequence[bytes]) -> None:
        levels: list[Sequence[bytes]] = [leaf_hashes]
        while len(levels[-1]) > 1:
            levels.append(_next_level(levels[-1]))
        self.levels = levels

    @property
    def size(self) -> int:
        return len(self.levels[0])

    def root(self) -> bytes:
        """The MTH of the whole tree."""
        return self.levels[-1][0] if self.size else EMPTY_ROOT

    def _range_hash(self, lo: int, hi: int) -> bytes:
        """The MTH of leaves ``[lo, hi)`` where that range is one node: a full aligned subtree, or ``hi`` is n."""
        height = (hi - lo - 1).bit_length()
        return self.levels[height][lo >> height]

    def inclusion_proof(self, index: int) -> list[bytes]:
        """PATH(index, D[n]) of RFC 9162 §2.1.3.1: the sibling hashes from the leaf up to the root."""
        n = self.size
        if not 0 <= index < n:
            raise ValueError(f"leaf index {index} is outside a tree of {n} leaves")
        proof = []
        for level in self.levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                proof.append(level[sibling])
            index >>= 1
        return proof

    def consistency_proof(self, old_size: int) -> list[bytes]:
        """PROOF(old_size, D[n]) of RFC 9162 §2.1.4.1 (SUBPROOF unrolled into a loop).

        Empty when ``old_size`` is 0 or n: nothing needs proving then.
        """
        n = self.size
        if not 0 <= old_size <= n:
            raise ValueError(f"old size {old_size} is outside 0..{n}")
        if old_size in (0, n):
            return []
        # SUBPROOF(m, D[lo:hi], b) appends one hash after its recursive call: collect those in reverse
        lo, hi, m, whole_old_tree = 0, n, old_size, True
        after: list[bytes] = []
        while m != hi - lo:
            k = 1 << ((hi - lo - 1).bit_length() - 1)  # the largest power of two below the range's size
            if m <= k:
                after.append(self._range_hash(lo + k, hi))
                hi = lo + k
            else:
                after.append(self._range_hash(lo, lo + k))
                lo, m, whole_old_tree = lo + k, m - k, False
        first = [] if whole_old_tree else [self._range_hash(lo, hi)]
        return first + after[::-1]


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """The inclusion proof (audit path) of leaf ``index`` in the tree of ``leaf_hashes``."""
    return MerkleTree(leaf_hashes).inclusion_proof(index)


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int) -> list[bytes]:
    """The proof that the first ``old_size`` leaves of ``leaf_hashes`` are the tree that had that size."""
    return MerkleTree(leaf_hashes).consistency_proof(old_size)


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root_hash: bytes) -> bool:
    """Whether ``proof`` shows the leaf hash ``leaf`` at ``index`` in the tree of ``size`` with ``root_hash``.

    The algorithm of RFC 9162 §2.1.3.2; a proof of the wrong length, or for an index outside the tree, fails.
    """
    if not 0 <= index < size:
        return False
    fn, sn = index, size - 1
    r = leaf
    sha = _sha256
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = sha(_NODE + p + r).digest()
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            r = sha(_NODE + r + p).digest()
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root_hash


def verify_consistency(old_size: int, new_size: int, proof: Sequence[bytes], old_root: bytes, new_root: bytes) -> bool:
    """Whether ``proof`` shows the tree (``old_size``, ``old_root``) to be a prefix of (``new_size``, ``new_root``).

    The algorithm of RFC 9162 §2.1.4.2, with its edge cases made explicit: equal sizes need an empty proof and
    equal roots; an empty old tree needs an empty proof and the empty tree's root; a shrinking tree fails.
    """
    if not 0 <= old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof and old_root == EMPTY_ROOT
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # an exact power of two: the old root is itself a node of the new tree
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    sha = _sha256
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = sha(_NODE + c + fr).digest()
            sr = sha(_NODE + c + sr).digest()
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            sr = sha(_NODE + sr + c).digest()
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0


class CompactRange:
    """The frontier of a log: the roots of its perfect subtrees, largest first, one per set bit of ``size``.

    ``append`` costs one leaf-sized step plus, amortised, one node hash; ``root`` folds the frontier from the
    right in O(log n). The state (``size``, ``hashes``) is small enough to store beside a checkpoint, so that a
    later verification resumes there instead of starting from leaf 0.
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if size < 0 or len(hashes) != size.bit_count():
            raise ValueError(f"a frontier of size {size} has {size.bit_count()} hashes, not {len(hashes)}")
        self._size = size
        self._hashes = list(hashes)

    @property
    def size(self) -> int:
        """How many leaves have been appended."""
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """The perfect subtrees' roots, leftmost (largest) first."""
        return tuple(self._hashes)

    def append(self, leaf: bytes) -> None:
        """Add one leaf hash at the end of the log."""
        stack = self._hashes
        n = self._size
        h = leaf
        while n & 1:
            h = _sha256(_NODE + stack.pop() + h).digest()
            n >>= 1
        stack.append(h)
        self._size += 1

    def append_entry(self, data: bytes) -> None:
        """Add one entry (its leaf hash is taken here): the verifier's hot path, kept to one call."""
        stack = self._hashes
        n = self._size
        sha = _sha256
        h = sha(_LEAF + data).digest()
        while n & 1:
            h = sha(_NODE + stack.pop() + h).digest()
            n >>= 1
        stack.append(h)
        self._size += 1

    def extend(self, leaves: Iterable[bytes]) -> None:
        """Add many leaf hashes in order."""
        stack = self._hashes
        n = self._size
        sha = _sha256
        for h in leaves:
            m = n
            while m & 1:
                h = sha(_NODE + stack.pop() + h).digest()
                m >>= 1
            stack.append(h)
            n += 1
        self._size = n

    def root(self) -> bytes:
        """The MTH of the log so far."""
        stack = self._hashes
        if not stack:
            return EMPTY_ROOT
        r = stack[-1]
        for h in reversed(stack[:-1]):
            r = _sha256(_NODE + h + r).digest()
        return r

    def copy(self) -> CompactRange:
        """An independent frontier at the same size."""
        return CompactRange(self._size, self._hashes)
