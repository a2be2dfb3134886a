"""evidence.merkle against a literal transcription of RFC 9162 §2.1 and against published known answers."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence

import pytest

from evidence import merkle
from evidence.merkle import (
    EMPTY_ROOT,
    CompactRange,
    MerkleTree,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    verify_consistency,
    verify_inclusion,
)

# --- the reference: RFC 9162 §2.1 written down as it reads (recursive; fine for small trees) ---------------


def _k(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: Sequence[bytes]) -> bytes:
    """MTH over entries (not leaf hashes), §2.1.1."""
    n = len(d)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = _k(n)
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]), §2.1.3.1."""
    n = len(d)
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return ref_path(m, d[:k]) + [ref_mth(d[k:])]
    return ref_path(m - k, d[k:]) + [ref_mth(d[:k])]


def ref_subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b), §2.1.4.1."""
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = _k(n)
    if m <= k:
        return ref_subproof(m, d[:k], b) + [ref_mth(d[k:])]
    return ref_subproof(m - k, d[k:], False) + [ref_mth(d[:k])]


def ref_proof(m: int, d: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) for 0 < m < n; nothing to prove otherwise."""
    return ref_subproof(m, d, True) if 0 < m < len(d) else []


MAX = 64
ENTRIES = [b""] + [f"entry {i}".encode() * (i % 3 + 1) for i in range(1, 2 * MAX + 2)]  # distinct, one empty
LEAVES = [leaf_hash(e) for e in ENTRIES]
REF_ROOTS = [ref_mth(ENTRIES[:n]) for n in range(len(ENTRIES) + 1)]


def _flip(h: bytes, bit: int) -> bytes:
    b = bytearray(h)
    b[(bit // 8) % len(b)] ^= 1 << (bit % 8)
    return bytes(b)


# --- hashing and roots --------------------------------------------------------------------------------------


def test_leaf_and_node_hashes_are_domain_separated_sha256() -> None:
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    assert node_hash(b"L" * 32, b"R" * 32) == hashlib.sha256(b"\x01" + b"L" * 32 + b"R" * 32).digest()
    assert EMPTY_ROOT == hashlib.sha256(b"").digest() == root([])
    assert len(leaf_hash(b"")) == merkle.HASH_SIZE


@pytest.mark.parametrize("n", range(MAX + 1))
def test_root_tree_and_frontier_agree_with_the_rfc(n: int) -> None:
    assert root(LEAVES[:n]) == REF_ROOTS[n]
    assert MerkleTree(LEAVES[:n]).root() == REF_ROOTS[n]
    assert MerkleTree(LEAVES[:n]).size == n
    by_leaf, by_entry, by_extend = CompactRange(), CompactRange(), CompactRange()
    for i in range(n):
        by_leaf.append(LEAVES[i])
        by_entry.append_entry(ENTRIES[i])
    by_extend.extend(LEAVES[:n])
    for frontier in (by_leaf, by_entry, by_extend):
        assert frontier.size == n
        assert len(frontier.hashes) == n.bit_count()
        assert frontier.root() == REF_ROOTS[n]


def test_a_frontier_resumes_from_its_stored_state_and_refuses_a_wrong_one() -> None:
    for cut in range(0, 40):
        start = CompactRange()
        start.extend(LEAVES[:cut])
        resumed = CompactRange(start.size, start.hashes)
        copy = start.copy()
        resumed.extend(LEAVES[cut:40])
        copy.extend(LEAVES[cut:40])
        assert resumed.root() == copy.root() == REF_ROOTS[40]
        assert start.root() == REF_ROOTS[cut]  # the copies did not share state with it
    with pytest.raises(ValueError):
        CompactRange(3, [LEAVES[0]])  # 3 = 0b11 needs two hashes
    with pytest.raises(ValueError):
        CompactRange(-1, [])


# --- inclusion ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", range(1, MAX + 1))
def test_inclusion_proofs_match_the_rfc_and_verify(n: int) -> None:
    tree = MerkleTree(LEAVES[:n])
    r = REF_ROOTS[n]
    for i in range(n):
        proof = tree.inclusion_proof(i)
        assert proof == ref_path(i, ENTRIES[:n])
        assert inclusion_proof(LEAVES[:n], i) == proof
        assert verify_inclusion(LEAVES[i], i, n, proof, r)


@pytest.mark.parametrize("n", range(1, MAX + 1))
def test_inclusion_fails_for_any_change(n: int) -> None:
    tree = MerkleTree(LEAVES[:n])
    r = REF_ROOTS[n]
    for i in range(n):
        proof = tree.inclusion_proof(i)
        leaf = LEAVES[i]
        # a flipped bit anywhere: the leaf, the root, each proof hash
        assert not verify_inclusion(_flip(leaf, i), i, n, proof, r)
        assert not verify_inclusion(leaf, i, n, proof, _flip(r, i + 7))
        for j in range(len(proof)):
            bad = list(proof)
            bad[j] = _flip(bad[j], 13 * i + j)
            assert not verify_inclusion(leaf, i, n, bad, r)
        # another leaf, another index
        for other in range(n):
            if other != i:
                assert not verify_inclusion(leaf, other, n, proof, r)
                assert not verify_inclusion(LEAVES[other], i, n, proof, r)
        assert not verify_inclusion(leaf, n, n, proof, r)
        assert not verify_inclusion(leaf, -1, n, proof, r)
        # another size, with that size's real root (a checkpoint binds a size to its root)
        for size in {n - 1, n + 1, 2 * n, n // 2}:
            if size > i and size != n:
                assert not verify_inclusion(leaf, i, size, proof, REF_ROOTS[size])
        assert not verify_inclusion(leaf, i, 0, proof, EMPTY_ROOT)
        # a truncated or extended proof
        if proof:
            assert not verify_inclusion(leaf, i, n, proof[:-1], r)
            assert not verify_inclusion(leaf, i, n, proof[1:], r)
        assert not verify_inclusion(leaf, i, n, [*proof, leaf], r)
        assert not verify_inclusion(leaf, i, n, [leaf, *proof], r)


def test_inclusion_proof_refuses_an_index_outside_the_tree() -> None:
    for n, i in ((0, 0), (3, 3), (3, -1)):
        with pytest.raises(ValueError):
            inclusion_proof(LEAVES[:n], i)


# --- consistency -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", range(MAX + 1))
def test_consistency_proofs_match_the_rfc_and_verify(n: int) -> None:
    tree = MerkleTree(LEAVES[:n])
    for m in range(n + 1):
        proof = tree.consistency_proof(m)
        assert proof == ref_proof(m, ENTRIES[:n]), (m, n)
        assert consistency_proof(LEAVES[:n], m) == proof
        assert verify_consistency(m, n, proof, REF_ROOTS[m], REF_ROOTS[n]), (m, n)


@pytest.mark.parametrize("n", range(1, MAX + 1))
def test_consistency_fails_for_any_change(n: int) -> None:
    tree = MerkleTree(LEAVES[:n])
    new = REF_ROOTS[n]
    for m in range(n + 1):
        proof = tree.consistency_proof(m)
        old = REF_ROOTS[m]
        assert not verify_consistency(m, n, proof, _flip(old, m), new)
        if m:  # the empty tree is a prefix of every tree: nothing binds the new root then
            assert not verify_consistency(m, n, proof, old, _flip(new, n + m))
        for j in range(len(proof)):
            bad = list(proof)
            bad[j] = _flip(bad[j], 11 * m + j)
            assert not verify_consistency(m, n, bad, old, new), (m, n, j)
        if m != n:
            assert not verify_consistency(m, n, proof, new, old)  # swapped roots
            assert not verify_consistency(n, m, proof, new, old)  # a shrinking log
        # other sizes, each with its real root: accepted only where this happens to be that pair's proof too
        # (an empty proof: from size 0, or between equal sizes)
        for m2 in {m - 1, m + 1}:
            if 0 <= m2 <= n and m2 != m:
                expected = proof == ref_proof(m2, ENTRIES[:n])
                assert verify_consistency(m2, n, proof, REF_ROOTS[m2], new) is expected, (m, m2, n)
        for n2 in {n - 1, n + 1}:
            if n2 >= m and n2 != n:
                expected = proof == ref_proof(m, ENTRIES[:n2])
                assert verify_consistency(m, n2, proof, old, REF_ROOTS[n2]) is expected, (m, n, n2)
        # a truncated or extended proof
        if proof:
            assert not verify_consistency(m, n, proof[:-1], old, new)
            assert not verify_consistency(m, n, proof[1:], old, new)
        assert not verify_consistency(m, n, [*proof, new], old, new)
        assert not verify_consistency(m, n, [old, *proof], old, new)


def test_consistency_edge_cases() -> None:
    r3 = REF_ROOTS[3]
    assert verify_consistency(0, 0, [], EMPTY_ROOT, EMPTY_ROOT)
    assert verify_consistency(0, 3, [], EMPTY_ROOT, r3)
    assert not verify_consistency(0, 3, [], r3, r3)  # an "empty" tree with a root that is not empty's
    assert not verify_consistency(3, 3, [], r3, REF_ROOTS[2])
    assert not verify_consistency(-1, 3, [], EMPTY_ROOT, r3)
    assert not verify_consistency(1, 3, [], REF_ROOTS[1], r3)
    for m in (-1, 4):
        with pytest.raises(ValueError):
            consistency_proof(LEAVES[:3], m)


# --- published known answers ------------------------------------------------------------------------------
# github.com/transparency-dev/merkle: testonly/constants.go (the Certificate Transparency test tree) and the
# happy-path cases of testdata/inclusion/* and testdata/consistency/* (base64 as published).

KNOWN_ENTRIES = [
    bytes.fromhex(h)
    for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f")
]
KNOWN_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
H0 = "bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0="
KNOWN_INCLUSION = [  # (index, size, root, leaf hash, proof)
    (0, 1, H0, H0, []),
    (
        0,
        8,
        "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=",
        H0,
        [
            "lqKW0iTyhcZ77pPDD4owkVfw2qNdxbh+QQt4YwoJz8c=",
            "Xwg/ChozygdqlSeYMlgNs+DvRYS9/x9UyKNg9Q3jAx4=",
            "a0eq8p7jwq+a+Im8H7klTavTEXfxYjLdaqsDXKOb9uQ=",
        ],
    ),
    (
        5,
        8,
        "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=",
        "QnGia+DYqE8L1UyMMC58s6O10fpngKQLzOKHNHfatlg=",
        [
            "vBoGQ7EuTS18d5GPROD095qDi2z57FtcKD4fTYhZnms=",
            "yoVOoSjtBQtBs1/8G4e46yveRh6eO1WW7Oa51ZdaCuA=",
            "037kGJdt2VdTwcc4Yrk5j6Kiz5tP8P3+izDNlSCWFLc=",
        ],
    ),
    (
        2,
        3,
        "rra8/idLcKFPsGel5VeCZNsPqbUa9eC6FZFY8yngbnc=",
        "ApjRIpBtz8EIkstTpzmS/FufST6kybrbJ7eRtBJ6f+c=",
        ["+sVCA+fMaWzw38tCySodnbr3CtnmIfS9jZhmLwDjwSU="],
    ),
    (
        1,
        5,
        "Tju7H3tHjc/nH7YxYxUZo7yhLJrvyhYSv85ME6hiZNQ=",
        "lqKW0iTyhcZ77pPDD4owkVfw2qNdxbh+QQt4YwoJz8c=",
        [H0, "Xwg/ChozygdqlSeYMlgNs+DvRYS9/x9UyKNg9Q3jAx4=", "vBoGQ7EuTS18d5GPROD095qDi2z57FtcKD4fTYhZnms="],
    ),
]
KNOWN_CONSISTENCY = [  # (old size, new size, proof)
    (1, 1, []),
    (
        1,
        8,
        [
            "lqKW0iTyhcZ77pPDD4owkVfw2qNdxbh+QQt4YwoJz8c=",
            "Xwg/ChozygdqlSeYMlgNs+DvRYS9/x9UyKNg9Q3jAx4=",
            "a0eq8p7jwq+a+Im8H7klTavTEXfxYjLdaqsDXKOb9uQ=",
        ],
    ),
    (
        6,
        8,
        [
            "DrxdNDf74tsVi58Sah0RjjCBgQMdCpSfje3t68VY72o=",
            "yoVOoSjtBQtBs1/8G4e46yveRh6eO1WW7Oa51ZdaCuA=",
            "037kGJdt2VdTwcc4Yrk5j6Kiz5tP8P3+izDNlSCWFLc=",
        ],
    ),
    (2, 5, ["Xwg/ChozygdqlSeYMlgNs+DvRYS9/x9UyKNg9Q3jAx4=", "vBoGQ7EuTS18d5GPROD095qDi2z57FtcKD4fTYhZnms="]),
    (
        6,
        7,
        [
            "DrxdNDf74tsVi58Sah0RjjCBgQMdCpSfje3t68VY72o=",
            "sIaT7C5yFZcTBkHoIR5+7cy0wmQTlj7ubB4u0W/7Gl8=",
            "037kGJdt2VdTwcc4Yrk5j6Kiz5tP8P3+izDNlSCWFLc=",
        ],
    ),
]


def _b64(s: str) -> bytes:
    return base64.b64decode(s)


def test_known_roots_of_the_certificate_transparency_test_tree() -> None:
    leaves = [leaf_hash(e) for e in KNOWN_ENTRIES]
    for n, want in enumerate(KNOWN_ROOTS):
        assert root(leaves[:n]).hex() == want
        frontier = CompactRange()
        frontier.extend(leaves[:n])
        assert frontier.root().hex() == want


@pytest.mark.parametrize("case", KNOWN_INCLUSION, ids=lambda c: f"{c[0]}-in-{c[1]}")
def test_known_inclusion_proofs(case: tuple[int, int, str, str, list[str]]) -> None:
    index, size, root_b64, leaf_b64, proof_b64 = case
    leaves = [leaf_hash(e) for e in KNOWN_ENTRIES[:size]]
    proof = [_b64(p) for p in proof_b64]
    assert leaves[index] == _b64(leaf_b64)
    assert inclusion_proof(leaves, index) == proof
    assert verify_inclusion(_b64(leaf_b64), index, size, proof, _b64(root_b64))


@pytest.mark.parametrize("case", KNOWN_CONSISTENCY, ids=lambda c: f"{c[0]}-to-{c[1]}")
def test_known_consistency_proofs(case: tuple[int, int, list[str]]) -> None:
    old_size, new_size, proof_b64 = case
    leaves = [leaf_hash(e) for e in KNOWN_ENTRIES[:new_size]]
    proof = [_b64(p) for p in proof_b64]
    assert consistency_proof(leaves, old_size) == proof
    old_root, new_root = bytes.fromhex(KNOWN_ROOTS[old_size]), bytes.fromhex(KNOWN_ROOTS[new_size])
    assert verify_consistency(old_size, new_size, proof, old_root, new_root)


# --- a log of a million leaves ------------------------------------------------------------------------------


def test_a_million_leaves_without_recursion() -> None:
    n = 1_000_003
    leaves = [i.to_bytes(32, "big") for i in range(n)]  # stand-ins for leaf hashes: only their order matters
    tree = MerkleTree(leaves)
    frontier = CompactRange()
    frontier.extend(leaves)
    r = tree.root()
    assert frontier.root() == r == root(leaves)
    for i in (0, 1, 524_287, 524_288, n - 2, n - 1):
        proof = tree.inclusion_proof(i)
        assert len(proof) <= 20
        assert verify_inclusion(leaves[i], i, n, proof, r)
    for m in (1, 2**19, 999_999, n - 1):
        old = root(leaves[:m])
        assert verify_consistency(m, n, tree.consistency_proof(m), old, r)
