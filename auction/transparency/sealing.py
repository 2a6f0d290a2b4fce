"""Sealing a record: each event's leaf hash and the signed log section.

``GET /api/auctions/{id}/record`` adds to the audit record
(:func:`auction.core.record.audit_record`) what ``underbid verify`` checks:
``leaf`` on every event, and ``log``::

    "log": {"origin": "underbid/UA-2026-0001", "tree_size": 41, "root": "…",
            "spec_digest": "…", "log_key": "…hex…" (null before the announcement,
            except for officials), "checkpoints": ["<signed note>", …],
            "keys": {"keys": [...]}}

``checkpoints`` holds the checkpoint at every lot's end (the size up to its
``lot_ended`` event) and the final one, covering every event of the record.
The server seals with its live tree (:mod:`gateway.transparency`);
:func:`seal` builds everything from the events alone, for records made
without a server (tests, benchmarks): the results are the same bytes.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Any

from auction.core.events import Event, LotEnded, encode_event
from auction.core.ledger import Ledger, key_commitment, log_key, spec_digest
from auction.transparency.checkpoints import Checkpoint, origin_of, sign_checkpoint
from auction.transparency.keys import SigningKey, TrustedKey, key_list


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def checkpoint_of(
    origin: str, ledger: Ledger, digest: bytes, times: Sequence[int], size: int
) -> Checkpoint:
    """The checkpoint of the first ``size`` leaves (its time: the last one's ``at``)."""
    return Checkpoint(
        origin=origin,
        size=size,
        root=ledger.tree.root(size),
        spec=digest,
        log_key=key_commitment(ledger.key),
        time=times[size - 1] if size else 0,
    )


def log_section(
    record: dict[str, Any],
    *,
    origin: str,
    ledger: Ledger,
    digest: bytes,
    lot_ends: Sequence[int],
    note: Callable[[int], str | None],
    keys: Sequence[TrustedKey],
    published: bool,
) -> None:
    """Add ``leaf`` to each of the record's events and its ``log`` section."""
    events = record["events"]
    size = len(events)
    leaves = ledger.tree.levels[0]
    for i, item in enumerate(events):
        item["leaf"] = leaves[32 * i : 32 * i + 32].hex()
    sizes = [s for s in lot_ends if s < size] + ([size] if size else [])
    record["log"] = {
        "origin": origin,
        "tree_size": size,
        "root": b64(ledger.tree.root(size)),
        "spec_digest": b64(digest),
        "log_key": ledger.key.hex() if published else None,
        "checkpoints": [n for s in sizes if (n := note(s)) is not None],
        "keys": key_list(keys),
    }


def seal(
    record: dict[str, Any],
    events: Sequence[Event],
    *,
    secret: bytes,
    keys: Sequence[SigningKey],
    prefix: str = "underbid",
) -> dict[str, Any]:
    """Seal a record made from ``events`` as a server with this secret and keys would."""
    auction_id = record["auction"]
    ledger = Ledger(auction_id, log_key(secret, auction_id))
    times = [e.at for e in events]
    lot_ends = [seq for seq, e in enumerate(events, start=1) if type(e) is LotEnded]
    for seq, event in enumerate(events, start=1):
        ledger.add_stored(seq, encode_event(event))
    origin = origin_of(prefix, auction_id)
    digest = spec_digest(record["spec"])
    log_section(
        record,
        origin=origin,
        ledger=ledger,
        digest=digest,
        lot_ends=lot_ends,
        note=lambda size: sign_checkpoint(checkpoint_of(origin, ledger, digest, times, size), keys),
        keys=[k.trusted for k in keys],
        published=True,
    )
    return record
