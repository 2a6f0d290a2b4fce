"""The ledger: an auction's journal as an RFC 9162 transparency log.

Every journal event is a leaf, in seq order, so a node that folds the same
stream builds the same tree, byte for byte (docs/record.md):

- **entry bytes** of the event with sequence number ``seq``: the MessagePack
  array ``[seq, salt, event]``, where ``event`` is exactly the bytes the
  journal stores (:func:`auction.core.events.encode_event`: the array
  ``[type, at, lot, field...]``) and ``salt`` 32 bytes (MessagePack ``bin``);
- **leaf hash**: ``SHA-256(0x00 || entry bytes)`` (:func:`auction.core.merkle.leaf_hash`);
- **salt** of ``seq``: bytes ``32 * (seq - 1)`` to ``32 * seq`` of the ChaCha20
  keystream (RFC 8439: the log key as the key, a nonce of 12 zero bytes, the
  block counter from 0), i.e. two salts per 64-byte block — a keyed PRF that
  costs a fraction of a hash per event when made in runs (:func:`salts`);
- **log key** of an auction: ``HMAC-SHA256(server secret, "underbid-log-key" 0x00 auction id)``,
  published with the record after the announcement.

Why a salt: a leaf the role may not see is served as its hash only, and a
hash of a guessable event (a bidder id from a short list, an amount in a known
range, a counter for a bid id) could be found by trying every candidate. With
the salt the hash is a commitment: it says nothing until the salt is shown,
and every salt can be recomputed by anyone once the log key is published.

Why MessagePack and not JSON (RFC 8785): the stored bytes are already
canonical (msgspec writes every integer and string in its shortest form, and
any MessagePack library writes the same bytes for the same array), they never
change once stored, and amounts up to 2**63 stay exact, where RFC 8785 JSON
stops at 2**53.

The spec is committed to by its **spec digest**, ``SHA-256`` of the spec as
canonical JSON (keys sorted, no whitespace, :func:`spec_digest`), which every
checkpoint carries. Pure: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from hashlib import sha256
from typing import Any, Final

import msgspec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

from auction.core.events import Event, encode_event
from auction.core.merkle import MerkleTree, leaf_hash

SALT_BYTES: Final = 32
MAX_SEQ: Final = 2**33
"""The keystream holds 2**32 blocks of two salts each."""
SALT_RUN: Final = 512
"""Salts a :class:`Ledger` makes at once (16 KiB of keystream)."""
_KEY_LABEL: Final = b"underbid-log-key\x00"
_COMMIT_LABEL: Final = b"underbid-log-key-commitment\x00"
_encoder = msgspec.msgpack.Encoder()
_LEAF_HASHER: Final = sha256(b"\x00")
_NODE_HASHER: Final = sha256(b"\x01")
_spec_encoder = msgspec.json.Encoder(order="sorted")


def log_key(secret: bytes, auction_id: str) -> bytes:
    """The auction's log key, from the server's secret (the same on every node)."""
    return hmac.digest(secret, _KEY_LABEL + auction_id.encode(), "sha256")


def key_commitment(key: bytes) -> bytes:
    """What checkpoints carry of the log key: proves a published key is the one used."""
    return hashlib.sha256(_COMMIT_LABEL + key).digest()


def salts(key: bytes, first_seq: int, count: int) -> bytes:
    """The salts of leaves ``first_seq`` to ``first_seq + count - 1``, concatenated."""
    if not 1 <= first_seq <= first_seq + count - 1 <= MAX_SEQ:
        raise ValueError(f"no salts for seqs {first_seq}..{first_seq + count - 1}")
    block, half = divmod(first_seq - 1, 2)
    nonce = block.to_bytes(4, "little") + bytes(12)  # the block counter, then the nonce
    stream = Cipher(algorithms.ChaCha20(key, nonce), mode=None).encryptor()
    data = stream.update(bytes(SALT_BYTES * (count + half)))
    return data[SALT_BYTES * half :]


def salt(key: bytes, seq: int) -> bytes:
    """The salt of leaf ``seq`` (1-based, as the journal numbers events)."""
    return salts(key, seq, 1)


def entry_bytes(seq: int, salt_: bytes, event: bytes) -> bytes:
    """The bytes a leaf hashes: MessagePack ``[seq, salt, event]`` (event: stored bytes)."""
    return _encoder.encode([seq, salt_, msgspec.Raw(event)])


def event_leaf(key: bytes, seq: int, event: bytes) -> bytes:
    """The leaf hash of the stored event bytes ``event`` with sequence number ``seq``."""
    return leaf_hash(entry_bytes(seq, salt(key, seq), event))


def spec_digest(spec: Mapping[str, Any]) -> bytes:
    """SHA-256 of the spec as canonical JSON: object keys sorted, no whitespace, UTF-8.

    Not RFC 8785 on purpose: RFC 8785 refuses integers past 2**53 and a spec's
    amounts may go further; msgspec writes every integer exactly.
    """
    return hashlib.sha256(_spec_encoder.encode(spec)).digest()


class Ledger:
    """The tree of one auction's events (leaf ``i`` is the event with seq ``i + 1``)."""

    __slots__ = ("_run", "_run_from", "auction_id", "key", "tree")

    def __init__(self, auction_id: str, key: bytes) -> None:
        self.auction_id = auction_id
        self.key = key
        """The log key (:func:`log_key`); secret until the announcement."""
        self.tree = MerkleTree()
        self._run = b""
        self._run_from = 1
        """The salts of seqs ``_run_from`` on, made ahead in runs of :data:`SALT_RUN`."""

    @property
    def size(self) -> int:
        return self.tree.size

    def salt(self, seq: int) -> bytes:
        offset = (seq - self._run_from) * SALT_BYTES
        if not 0 <= offset < len(self._run):
            self._run, self._run_from = salts(self.key, seq, SALT_RUN), seq
            offset = 0
        return self._run[offset : offset + SALT_BYTES]

    def add_stored(self, seq: int, data: bytes) -> None:
        """Append the journal's bytes of event ``seq``; it must be the next one."""
        self.add_all(seq, [data])

    def add_all(self, first_seq: int, stored: list[bytes]) -> None:
        """Append the journal's bytes of events ``first_seq, first_seq + 1, ...``.

        The hot path of the live log: the leaf hashes and the tree's new nodes
        in one loop (it is :meth:`MerkleTree.append`, inlined: a third less
        time per event).
        """
        if first_seq != self.tree.size + 1:
            raise ValueError(f"{self.auction_id}: event {first_seq} after {self.tree.size}")
        last = first_seq + len(stored) - 1
        if last >= self._run_from + len(self._run) // SALT_BYTES:
            count = max(SALT_RUN, len(stored))
            self._run, self._run_from = salts(self.key, first_seq, count), first_seq
        run, base = self._run, (first_seq - self._run_from) * SALT_BYTES
        levels = self.tree.levels
        leaves = levels[0]
        encode, raw, leaf_hasher, node_hasher = (
            _encoder.encode,
            msgspec.Raw,
            _LEAF_HASHER,
            _NODE_HASHER,
        )
        for i, data in enumerate(stored):
            offset = base + i * SALT_BYTES
            h = leaf_hasher.copy()
            h.update(encode([first_seq + i, run[offset : offset + SALT_BYTES], raw(data)]))
            leaves += h.digest()
            row, n, height = leaves, first_seq + i, 0
            while not n & 1:  # a subtree just became complete: its parent too
                parent = node_hasher.copy()
                parent.update(row[-64:])
                height += 1
                if height == len(levels):
                    levels.append(bytearray())
                row = levels[height]
                row += parent.digest()
                n = len(row) >> 5

    def add(self, first_seq: int, events: Iterable[Event]) -> None:
        """Append events as the journal stored them, from ``first_seq`` on."""
        self.add_all(first_seq, [encode_event(event) for event in events])
