"""RFC 9162 hashing and proofs: published test vectors, and a straightforward
recursive reference (the RFC's definitions written as they read) for every
tree size 1..64 and every index.

The vectors are the Certificate Transparency project's (RFC 6962 / RFC 9162
use the same tree): eight leaves, the roots of every prefix, and the
inclusion and consistency proofs of its reference tests. Ed25519 / signed
note vectors are in tests/transparency/test_notes.py.
"""

from __future__ import annotations

import hashlib
import itertools

import pytest

from auction.core.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    ProofError,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)

LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
ROOTS = [
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
INCLUSION = [
    (0, 1, []),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]


# ------------------------------------------------- the reference, as the RFC reads
def ref_mth(d: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1: MTH(D[n])."""
    n = len(d)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    """RFC 9162 §2.1.3.1: PATH(m, D[n])."""
    n = len(d)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    """RFC 9162 §2.1.4.1: SUBPROOF(m, D[n], b)."""
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def ref_proof(m: int, d: list[bytes]) -> list[bytes]:
    return ref_subproof(m, d, True) if 0 < m < len(d) else []


def data(n: int) -> list[bytes]:
    return [f"leaf {i}".encode() for i in range(n)]


def tree_of(d: list[bytes]) -> MerkleTree:
    return MerkleTree(leaf_hash(x) for x in d)


# ------------------------------------------------------------------- vectors
def test_the_hashes_are_the_rfcs() -> None:
    assert EMPTY_ROOT.hex() == ROOTS[0]
    assert leaf_hash(b"").hex() == ROOTS[1]
    assert node_hash(leaf_hash(LEAVES[0]), leaf_hash(LEAVES[1])).hex() == ROOTS[2]


def test_roots_of_every_prefix_match_the_vectors() -> None:
    tree = MerkleTree()
    assert tree.root().hex() == ROOTS[0]
    for i, leaf in enumerate(LEAVES, start=1):
        assert tree.append(leaf_hash(leaf)) == i - 1
        assert tree.root().hex() == ROOTS[i]
    for size in range(9):
        assert tree.root(size).hex() == ROOTS[size]


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
def test_inclusion_proofs_match_the_vectors(index: int, size: int, path: list[str]) -> None:
    tree = tree_of(LEAVES)
    assert [h.hex() for h in tree.inclusion_proof(index, size)] == path
    root = bytes.fromhex(ROOTS[size])
    verify_inclusion(leaf_hash(LEAVES[index]), index, size, [bytes.fromhex(h) for h in path], root)


@pytest.mark.parametrize(("first", "second", "path"), CONSISTENCY)
def test_consistency_proofs_match_the_vectors(first: int, second: int, path: list[str]) -> None:
    tree = tree_of(LEAVES)
    assert [h.hex() for h in tree.consistency_proof(first, second)] == path
    verify_consistency(
        first,
        second,
        bytes.fromhex(ROOTS[first]),
        bytes.fromhex(ROOTS[second]),
        [bytes.fromhex(h) for h in path],
    )


# ------------------------------------------------- against the reference, 1..64
def test_roots_and_inclusion_proofs_for_every_size_and_index() -> None:
    d = data(64)
    tree = tree_of(d)
    for n in range(1, 65):
        root = ref_mth(d[:n])
        assert tree.root(n) == root
        for m in range(n):
            path = ref_path(m, d[:n])
            assert tree.inclusion_proof(m, n) == path, (m, n)
            verify_inclusion(leaf_hash(d[m]), m, n, path, root)


def test_consistency_proofs_for_every_pair_of_sizes() -> None:
    d = data(64)
    tree = tree_of(d)
    for n in range(1, 65):
        for m in range(n + 1):
            proof = ref_proof(m, d[:n])
            assert tree.consistency_proof(m, n) == proof, (m, n)
            verify_consistency(m, n, ref_mth(d[:m]), ref_mth(d[:n]), proof)


def test_a_tree_grown_leaf_by_leaf_agrees_with_one_built_at_once() -> None:
    d = data(37)
    grown = MerkleTree()
    for i, x in enumerate(d):
        grown.append(leaf_hash(x))
        assert grown.root() == ref_mth(d[: i + 1])
    assert grown.levels == tree_of(d).levels


# -------------------------------------------------------------- refusals
def test_a_wrong_leaf_index_root_or_path_fails() -> None:
    d = data(13)
    tree = tree_of(d)
    root = tree.root()
    for m in range(13):
        path = tree.inclusion_proof(m)
        with pytest.raises(ProofError):
            verify_inclusion(leaf_hash(b"not it"), m, 13, path, root)
        with pytest.raises(ProofError):
            verify_inclusion(leaf_hash(d[m]), (m + 1) % 13, 13, path, root)
        with pytest.raises(ProofError):
            verify_inclusion(leaf_hash(d[m]), m, 13, path, tree.root(12))
        if path:
            with pytest.raises(ProofError):
                verify_inclusion(leaf_hash(d[m]), m, 13, path[:-1], root)
            with pytest.raises(ProofError):
                verify_inclusion(leaf_hash(d[m]), m, 13, [*path, path[0]], root)
            bent = [bytes(32), *path[1:]]
            with pytest.raises(ProofError):
                verify_inclusion(leaf_hash(d[m]), m, 13, bent, root)
    with pytest.raises(ProofError):
        verify_inclusion(leaf_hash(d[0]), 13, 13, [], root)


def test_a_rewritten_history_fails_consistency() -> None:
    d = data(20)
    honest = tree_of(d)
    forked = tree_of([*d[:7], b"rewritten", *d[8:]])
    for m, n in itertools.combinations(range(1, 21), 2):
        proof = honest.consistency_proof(m, n)
        if m > 7:  # the fork changed the first tree: its root is not the honest one
            with pytest.raises(ProofError):
                verify_consistency(m, n, forked.root(m), honest.root(n), proof)
        if n > 7:  # the second tree holds the rewritten leaf
            with pytest.raises(ProofError):
                verify_consistency(m, n, honest.root(m), forked.root(n), proof)
    with pytest.raises(ProofError):
        verify_consistency(5, 5, honest.root(5), bytes(32), [])
    with pytest.raises(ProofError):
        verify_consistency(6, 5, honest.root(6), honest.root(5), [])
    with pytest.raises(ProofError):
        verify_consistency(3, 9, honest.root(3), honest.root(9), [])


def test_requests_for_proofs_that_cannot_exist_are_refused() -> None:
    tree = tree_of(data(5))
    for call in (
        lambda: tree.root(6),
        lambda: tree.inclusion_proof(5),
        lambda: tree.inclusion_proof(0, 0),
        lambda: tree.consistency_proof(4, 6),
        lambda: tree.consistency_proof(4, 3),
        lambda: tree.leaf(5),
    ):
        with pytest.raises(ProofError):
            call()
    with pytest.raises(ValueError):
        tree.append(b"short")
