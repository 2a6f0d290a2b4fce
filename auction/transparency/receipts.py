"""Receipts: a bidder's proof that its bid is in the auction's signed log.

A receipt is JSON (``client.receipts.fetch_receipt`` builds one from the ack's
``leaf_index``; ``underbid verify --receipt`` checks it against a record)::

    {"underbid_receipt": 1, "auction": "UA-2026-0001", "index": 16,
     "event": {"type": "bid_placed", "at": …, "seq": 17, …}, "salt": "…hex…",
     "leaf": "…hex…", "size": 41, "proof": ["…base64…", …],
     "checkpoint": "underbid/UA-2026-0001\\n41\\n…"}

It checks by itself, with nothing but the server's public key: the event and
its salt hash to ``leaf`` (:mod:`auction.core.ledger`), the inclusion proof
leads from ``leaf`` at ``index`` to the root of the signed ``checkpoint``
(RFC 9162), and the checkpoint is signed by a trusted key valid at its time.
Against a record it also proves that the record still holds that very event.

Errors (the exception tree)::

    ValueError
    └── ReceiptError      a receipt that is malformed or does not prove what it says
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from auction.core.errors import RecordError
from auction.core.events import Event, encode_event
from auction.core.ledger import entry_bytes
from auction.core.merkle import ProofError, leaf_hash, verify_inclusion
from auction.core.record import event_from_record
from auction.transparency.checkpoints import Checkpoint, CheckpointError, open_checkpoint
from auction.transparency.keys import TrustedKey

RECEIPT_VERSION: Final = 1


class ReceiptError(ValueError):
    """The receipt is malformed or does not prove its event is in the signed log."""


@dataclass(frozen=True, slots=True)
class Receipt:
    """A checked receipt."""

    auction: str
    index: int
    seq: int
    event: Event
    leaf: bytes
    checkpoint: Checkpoint


def _hex(data: Any, what: str, size: int = 32) -> bytes:
    try:
        raw = bytes.fromhex(data) if isinstance(data, str) else b""
    except ValueError:
        raw = b""
    if len(raw) != size:
        raise ReceiptError(f"{what} is not {size} bytes of hex")
    return raw


def make_receipt(
    auction: str, entry: Mapping[str, Any], size: int, proof: Sequence[str], checkpoint: str
) -> dict[str, Any]:
    """A receipt from a ``/log`` entry (its event in full, with its salt) and a proof."""
    return {
        "underbid_receipt": RECEIPT_VERSION,
        "auction": auction,
        "index": entry["index"],
        "event": {**entry["event"], "seq": entry["seq"]},
        "salt": entry["salt"],
        "leaf": entry["leaf"],
        "size": size,
        "proof": list(proof),
        "checkpoint": checkpoint,
    }


def check_receipt(data: Any, trusted: Sequence[TrustedKey]) -> Receipt:
    """Check a receipt on its own; raises :class:`ReceiptError` saying what fails."""
    if not isinstance(data, Mapping) or data.get("underbid_receipt") != RECEIPT_VERSION:
        raise ReceiptError("not an underbid receipt")
    auction, index, size = data.get("auction"), data.get("index"), data.get("size")
    if not isinstance(auction, str) or not isinstance(index, int) or not isinstance(size, int):
        raise ReceiptError("a receipt names its auction, index and size")
    item = data.get("event")
    if not isinstance(item, Mapping) or item.get("seq") != index + 1:
        raise ReceiptError(f"the receipt's event must carry seq {index + 1} (leaf {index} + 1)")
    try:
        event = event_from_record(item, "event")
    except RecordError as exc:
        raise ReceiptError(str(exc)) from None
    salt = _hex(data.get("salt"), "salt")
    leaf = _hex(data.get("leaf"), "leaf")
    if leaf_hash(entry_bytes(index + 1, salt, encode_event(event))) != leaf:
        raise ReceiptError(f"the receipt's event and salt do not hash to its leaf {leaf.hex()}")
    note = data.get("checkpoint")
    if not isinstance(note, str):
        raise ReceiptError("a receipt carries its signed checkpoint")
    try:
        checkpoint, _ = open_checkpoint(note, trusted)
    except CheckpointError as exc:
        raise ReceiptError(f"its checkpoint: {exc}") from None
    if checkpoint.auction_id != auction:
        raise ReceiptError(f"its checkpoint is of auction {checkpoint.auction_id}, not {auction}")
    if checkpoint.size != size:
        raise ReceiptError(f"its checkpoint covers {checkpoint.size} events, not {size}")
    proof = data.get("proof")
    if not isinstance(proof, list):
        raise ReceiptError("a receipt carries its inclusion proof")
    try:
        hashes = [base64.b64decode(h, validate=True) for h in proof]
    except (binascii.Error, ValueError, TypeError):
        raise ReceiptError("the inclusion proof is not base64") from None
    try:
        verify_inclusion(leaf, index, size, hashes, checkpoint.root)
    except ProofError as exc:
        raise ReceiptError(f"the inclusion proof fails: {exc}") from None
    return Receipt(auction, index, index + 1, event, leaf, checkpoint)
