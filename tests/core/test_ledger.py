"""The ledger's bytes: pinned forever (records signed today must verify
tomorrow), the same as any MessagePack library writes, and built from the
journal's stored bytes."""

from __future__ import annotations

import hashlib

import msgpack
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

from auction.core.engine import Auction
from auction.core.events import BidPlaced, LotStarted, decode_event, encode_event, event_to_dict
from auction.core.ledger import (
    Ledger,
    entry_bytes,
    event_leaf,
    key_commitment,
    log_key,
    salt,
    salts,
    spec_digest,
)
from auction.core.merkle import leaf_hash
from auction.core.record import event_from_record, events_from_record
from auction.core.spec import parse_spec
from tests.transparency.records import FORMATS, simulated

KEY = bytes(range(32))
BID = BidPlaced(
    at=1_796_112_000_000, lot="1", bidder="b1", amount=4_750_000, bid_id="c-17", surrogate_by=""
)


def test_entry_bytes_are_messagepack_seq_salt_event_as_any_library_writes_them() -> None:
    s = salt(KEY, 7)
    stream = Cipher(algorithms.ChaCha20(KEY, bytes(16)), mode=None).encryptor().update(bytes(256))
    assert s == stream[6 * 32 : 7 * 32]  # the 7th 32-byte slice of the keystream
    assert salts(KEY, 1, 8) == stream
    assert salts(KEY, 6, 3) == stream[5 * 32 : 8 * 32]
    ledger = Ledger("x", KEY)
    assert [ledger.salt(n) for n in (7, 1, 600, 8)] == [salt(KEY, n) for n in (7, 1, 600, 8)]
    data = entry_bytes(7, s, encode_event(BID))
    fields = ["bid_placed", 1_796_112_000_000, "1", "b1", 4_750_000, "c-17", ""]
    assert data == msgpack.packb([7, s, fields], use_bin_type=True)
    assert event_leaf(KEY, 7, encode_event(BID)) == hashlib.sha256(b"\x00" + data).digest()


def test_the_bytes_are_pinned() -> None:
    """A change here breaks every record already signed: never change it."""
    assert event_leaf(KEY, 7, encode_event(BID)).hex() == PINNED_LEAF
    assert log_key(b"s" * 32, "UA-1").hex() == PINNED_LOG_KEY
    assert key_commitment(KEY).hex() == PINNED_COMMITMENT
    assert spec_digest({"b": 1, "a": [2**63 - 1, "\u0456"]}).hex() == PINNED_SPEC


PINNED_LEAF = "be4dc805f57e5748ecdad5697d3a01717d44e2d640de1541ae2293155ee89831"
PINNED_LOG_KEY = "a70a230ba6afd8e31bfd0e53d8f563e865045ab46de37e7cc34e88e2fac35b49"
PINNED_COMMITMENT = "5064ecd78ef60b364b07fac69e177833dac256723c7300b5a59f7aef1c0a9234"
PINNED_SPEC = "6ed4f56d6ec15c73dbc70e218aa0195bfe595d77b3e1007bb7f3df02383ae9d5"


def test_the_spec_digest_ignores_key_order_and_keeps_big_integers() -> None:
    assert spec_digest({"a": 1, "b": {"c": 2, "d": 3}}) == spec_digest(
        {"b": {"d": 3, "c": 2}, "a": 1}
    )
    assert spec_digest({"a": 2**62}) != spec_digest({"a": 2**62 + 1})


def test_a_ledger_from_events_equals_one_from_the_stored_bytes() -> None:
    _, events = simulated("rounds")
    live, stored = Ledger("x", KEY), Ledger("x", KEY)
    live.add(1, list(events))
    for seq, event in enumerate(events, start=1):
        stored.add_stored(seq, encode_event(decode_event(encode_event(event))))
    assert live.tree.levels == stored.tree.levels
    assert live.tree.leaf(0) == leaf_hash(entry_bytes(1, salt(KEY, 1), encode_event(events[0])))
    with pytest.raises(ValueError):
        live.add_stored(len(events) + 2, b"")


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_records_events_replay_to_its_state_hash(fmt: str) -> None:
    """Issue 18: ``Auction.replay(parse_spec(spec), events_from_record(events))``."""
    record, events = simulated(fmt)
    back = events_from_record(record["events"])
    assert back == list(events)
    auction = Auction.replay(parse_spec(record["spec"]), back)
    assert auction.state_hash() == record["state_hash"]


def test_event_from_record_is_strict() -> None:
    item = {**event_to_dict(LotStarted(at=1, lot="1", labels=["a", "b"])), "seq": 1, "time": "x"}
    assert event_from_record(item) == LotStarted(at=1, lot="1", labels=["a", "b"])
