"""RFC 9162 (Certificate Transparency v2) Merkle trees, inclusion and consistency proofs.

Pure and byte-exact: the hashes are the RFC's, so any RFC 9162 / RFC 6962
implementation checks our proofs, and ours check theirs (tests/core/test_merkle.py
holds the published test vectors).

- ``leaf_hash(d) = SHA-256(0x00 || d)``, ``node_hash(l, r) = SHA-256(0x01 || l || r)``;
- the tree of ``n`` leaves splits at ``k``, the largest power of two smaller than ``n``;
  the empty tree's root is ``SHA-256()``.

:class:`MerkleTree` keeps every complete subtree's hash (about two hashes per
leaf), so appending costs one node hash per leaf on average, and the root of
any earlier size, an inclusion proof or a consistency proof costs ``O(log² n)``
lookups and a few hashes, however large the tree.

Why not a library: the maintained RFC 9162 implementations are in Go and Rust;
the Python packages on PyPI are unmaintained or tied to X.509 certificates. The
RFC's algorithms are short; they are written out here, tested against the
RFC's own vectors and against a straightforward recursive reference.

Errors (the exception tree)::

    ValueError
    └── ProofError    a proof that does not verify, or a request for one that
                      cannot exist (index past the tree, sizes out of order)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from hashlib import sha256
from typing import Final

HASH_SIZE: Final = 32
EMPTY_ROOT: Final = sha256(b"").digest()
"""The root of the tree of no leaves."""

_LEAF: Final = b"\x00"
_NODE: Final = b"\x01"
_LEAF_HASH: Final = sha256(_LEAF)
_NODE_HASH: Final = sha256(_NODE)
"""Hashers fed with the prefix: a copy costs less than a new hasher (OpenSSL 3)."""


class ProofError(ValueError):
    """A proof does not verify, or cannot exist for the sizes asked."""


def leaf_hash(data: bytes) -> bytes:
    """The hash of one leaf: ``SHA-256(0x00 || data)``."""
    h = _LEAF_HASH.copy()
    h.update(data)
    return h.digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """An interior node: ``SHA-256(0x01 || left || right)``."""
    h = _NODE_HASH.copy()
    h.update(left + right)
    return h.digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleTree:
    """An append-only RFC 9162 tree over leaf hashes.

    ``levels[h]`` holds, 32 bytes each, the hashes of the complete subtrees of
    ``2**h`` leaves, the ``i``-th starting at leaf ``i * 2**h``; a subtree that
    is not complete yet is never stored, so nothing stored changes when leaves
    are appended. One ``bytearray`` per level: 32 bytes per hash, and nothing
    for the garbage collector to walk, however large the tree.
    """

    __slots__ = ("levels",)

    def __init__(self, leaves: Iterable[bytes] = ()) -> None:
        self.levels: list[bytearray] = [bytearray()]
        """Complete subtree hashes by height; ``levels[0]`` are the leaf hashes."""
        for leaf in leaves:
            self.append(leaf)

    @property
    def size(self) -> int:
        return len(self.levels[0]) // HASH_SIZE

    def append(self, leaf: bytes) -> int:
        """Add a leaf hash; returns its index."""
        if len(leaf) != HASH_SIZE:
            raise ValueError(f"a leaf hash has {HASH_SIZE} bytes, not {len(leaf)}")
        levels = self.levels
        row = levels[0]
        row += leaf
        index = n = len(row) // HASH_SIZE
        height = 0
        while not n & 1:  # a subtree just became complete: its parent too
            h = _NODE_HASH.copy()
            h.update(row[-2 * HASH_SIZE :])
            height += 1
            if height == len(levels):
                levels.append(bytearray())
            row = levels[height]
            row += h.digest()
            n = len(row) // HASH_SIZE
        return index - 1

    def leaf(self, index: int) -> bytes:
        if not 0 <= index < self.size:
            raise ProofError(f"no leaf {index} in a tree of {self.size}")
        return bytes(self.levels[0][index * HASH_SIZE : (index + 1) * HASH_SIZE])

    def _subtree(self, start: int, end: int) -> bytes:
        """MTH of leaves ``[start, end)``, from the stored complete subtrees."""
        n = end - start
        if n & (n - 1) == 0:  # a power of two, aligned by construction: stored
            height = n.bit_length() - 1
            at = (start >> height) * HASH_SIZE
            return bytes(self.levels[height][at : at + HASH_SIZE])
        k = _split(n)
        return sha256(
            _NODE + self._subtree(start, start + k) + self._subtree(start + k, end)
        ).digest()

    def _check_size(self, size: int) -> None:
        if not 0 <= size <= self.size:
            raise ProofError(f"the tree has {self.size} leaves, not {size}")

    def root(self, size: int | None = None) -> bytes:
        """The root hash of the first ``size`` leaves (default: all)."""
        size = self.size if size is None else size
        self._check_size(size)
        return EMPTY_ROOT if size == 0 else self._subtree(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """RFC 9162 §2.1.3.1: the audit path of leaf ``index`` in the tree of ``size``."""
        size = self.size if size is None else size
        self._check_size(size)
        if not 0 <= index < size:
            raise ProofError(f"no leaf {index} in a tree of {size}")
        path: list[bytes] = []
        start, end = 0, size
        while end - start > 1:
            k = _split(end - start)
            if index < start + k:
                path.append(self._subtree(start + k, end))
                end = start + k
            else:
                path.append(self._subtree(start, start + k))
                start += k
        path.reverse()
        return path

    def consistency_proof(self, first: int, second: int | None = None) -> list[bytes]:
        """RFC 9162 §2.1.4.1: proof that the tree of ``first`` is a prefix of ``second``."""
        second = self.size if second is None else second
        self._check_size(second)
        if not 0 <= first <= second:
            raise ProofError(f"no consistency proof from {first} to {second}")
        if first == 0 or first == second:
            return []
        path: list[bytes] = []
        start, end, m, complete = 0, second, first, True
        while m != end - start:
            k = _split(end - start)
            if m <= k:
                path.append(self._subtree(start + k, end))
                end = start + k
            else:
                path.append(self._subtree(start, start + k))
                start, m, complete = start + k, m - k, False
        if not complete:
            path.append(self._subtree(start, end))
        path.reverse()
        return path


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """RFC 9162 §2.1.3.2; raises :class:`ProofError` unless ``leaf`` is at ``index``."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} cannot be in a tree of {size}")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("the inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the inclusion proof is shorter than the tree is deep")
    if r != root:
        raise ProofError(f"leaf {index} is not in the tree of {size} with this root")


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> None:
    """RFC 9162 §2.1.4.2; raises :class:`ProofError` unless tree ``first`` is a
    prefix of tree ``second``."""
    if not 0 <= first <= second:
        raise ProofError(f"sizes out of order: {first} then {second}")
    if first == second:
        if proof:
            raise ProofError("a proof between equal sizes must be empty")
        if first_root != second_root:
            raise ProofError(f"two different roots for the same size {first}")
        return
    if first == 0:
        if proof:
            raise ProofError("a proof from the empty tree must be empty")
        return
    if not proof:
        raise ProofError(f"an empty consistency proof from {first} to {second}")
    path = list(proof)
    if first & (first - 1) == 0:  # an exact power of two: its root is a node of both
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the consistency proof is too short")
    if fr != first_root:
        raise ProofError(f"the proof does not lead to the root of size {first}")
    if sr != second_root:
        raise ProofError(f"the proof does not lead to the root of size {second}")
