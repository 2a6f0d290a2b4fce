"""The ledger: an auction's journal as an RFC 9162 transparency log.

Every journal event is a leaf, in seq order, so a node that folds the same
stream builds the same tree, byte for byte (docs/record.md):

- **entry bytes** of the event with sequence number ``seq``: the MessagePack
  array ``[seq, salt, event]``, where ``event`` is exactly the bytes the
  journal stores (:func:`auction.core.events.encode_event`: the array
  ``[type, at, lot, field...]``) and ``salt`` 32 bytes (MessagePack ``bin``);
- **leaf hash**: ``SHA-256(0x00 || entry bytes)`` (:func:`auction.core.merkle.leaf_hash`);
- **salt** of ``seq``: ``HMAC-SHA256(log key, seq as 8 bytes big-endian)``;
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
from typing import Any, Final

import msgspec

from auction.core.events import Event, encode_event
from auction.core.merkle import MerkleTree, leaf_hash

SALT_BYTES: Final = 32
_KEY_LABEL: Final = b"underbid-log-key\x00"
_COMMIT_LABEL: Final = b"underbid-log-key-commitment\x00"
_encoder = msgspec.msgpack.Encoder()
_spec_encoder = msgspec.json.Encoder(order="sorted")


def log_key(secret: bytes, auction_id: str) -> bytes:
    """The auction's log key, from the server's secret (the same on every node)."""
    return hmac.digest(secret, _KEY_LABEL + auction_id.encode(), "sha256")


def key_commitment(key: bytes) -> bytes:
    """What checkpoints carry of the log key: proves a published key is the one used."""
    return hashlib.sha256(_COMMIT_LABEL + key).digest()


def salt(key: bytes, seq: int) -> bytes:
    """The salt of leaf ``seq`` (1-based, as the journal numbers events)."""
    return hmac.digest(key, seq.to_bytes(8, "big"), "sha256")


def entry_bytes(seq: int, salt_: bytes, event: bytes) -> bytes:
    """The bytes a leaf hashes: MessagePack ``[seq, salt, event]`` (event: stored bytes)."""
    return _encoder.encode([seq, salt_, msgspec.Raw(event)])


def event_leaf(key: bytes, seq: int, event: bytes) -> bytes:
    """The leaf hash of the stored event bytes ``event`` with sequence number ``seq``."""
    return leaf_hash(_encoder.encode([seq, salt(key, seq), msgspec.Raw(event)]))


def spec_digest(spec: Mapping[str, Any]) -> bytes:
    """SHA-256 of the spec as canonical JSON: object keys sorted, no whitespace, UTF-8.

    Not RFC 8785 on purpose: RFC 8785 refuses integers past 2**53 and a spec's
    amounts may go further; msgspec writes every integer exactly.
    """
    return hashlib.sha256(_spec_encoder.encode(spec)).digest()


class Ledger:
    """The tree of one auction's events (leaf ``i`` is the event with seq ``i + 1``)."""

    __slots__ = ("auction_id", "key", "tree")

    def __init__(self, auction_id: str, key: bytes) -> None:
        self.auction_id = auction_id
        self.key = key
        """The log key (:func:`log_key`); secret until the announcement."""
        self.tree = MerkleTree()

    @property
    def size(self) -> int:
        return self.tree.size

    def add_stored(self, seq: int, data: bytes) -> None:
        """Append the journal's bytes of event ``seq``; it must be the next one."""
        if seq != self.tree.size + 1:
            raise ValueError(f"{self.auction_id}: event {seq} after {self.tree.size}")
        self.tree.append(leaf_hash(_encoder.encode([seq, salt(self.key, seq), msgspec.Raw(data)])))

    def add(self, first_seq: int, events: Iterable[Event]) -> None:
        """Append events as the journal stored them, from ``first_seq`` on."""
        for seq, event in enumerate(events, start=first_seq):
            self.add_stored(seq, encode_event(event))
