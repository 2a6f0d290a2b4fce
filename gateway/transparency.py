"""The verifiable record, served: each auction's transparency log, its signed
checkpoints on the live stream, receipts and proofs over HTTP.

The log of an auction (:class:`auction.core.ledger.Ledger`) is folded from the
journal's events in seq order and nothing else, like the fan-out
(:mod:`gateway.hub`) it subscribes to the runtime's durable events; an auction
this process did not see from its first event (recovered at start, or hosted
after a takeover) is first read back from the journal. So every node that
serves an auction serves the same tree, and, the keys being the same, the
same signed checkpoints: a checkpoint's time is its last event's.

Checkpoints go out on every auction's WebSocket (a ``checkpoint`` message,
with the consistency proof from the previous one) at most
``record.checkpoint_interval_ms`` after events became durable, and at once at
every lot's end. The HTTP API (docs/api.md, docs/record.md):

=======  ============================================  =========================================
method   path                                          what
=======  ============================================  =========================================
GET      /.well-known/underbid-keys.json               the public keys, with validity windows
GET      /api/auctions/{id}/checkpoint                 the latest signed checkpoint
GET      /api/auctions/{id}/log                        the leaves as the role may see them
GET      /api/auctions/{id}/proof/inclusion            ``?index=&size=``: RFC 9162 inclusion proof
GET      /api/auctions/{id}/proof/consistency          ``?from=&to=``: RFC 9162 consistency proof
=======  ============================================  =========================================

Who may read them: whoever may read the auction's view (anyone for a public
auction, else a token of the auction). Before the announcement a leaf the
role may not see is served as its hash only (and the projection the live
stream showed), salted so the hash gives nothing away (docs/record.md); once
the auction has finished the whole log, names included, is public, with the
log key that lets anyone recompute every leaf.
"""

from __future__ import annotations

import asyncio
import logging
from array import array
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Final

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from auction.core.engine import Auction, Outcome
from auction.core.events import Event, LotEnded, decode_event, encode_event, event_to_dict
from auction.core.ledger import Ledger, log_key, spec_digest
from auction.core.merkle import ProofError
from auction.core.projection import project
from auction.runtime.host import RuntimeError_
from auction.runtime.journal import JournalUnavailable
from auction.transparency.checkpoints import Checkpoint, origin_of, sign_checkpoint
from auction.transparency.keys import (
    SigningKey,
    TrustedKey,
    Window,
    describe,
    key_list,
    load_signing_key,
)
from auction.transparency.notes import SignerKey
from auction.transparency.sealing import b64, checkpoint_of, log_section
from gateway import frames
from gateway import protocol as p

if TYPE_CHECKING:
    from gateway.app import Gateway

log = logging.getLogger("underbid.gateway.record")

MAX_PAGE: Final = 10_000
"""Most entries one ``/log`` request returns (``limit``)."""
MAX_PENDING: Final = 100_000
"""Events kept while an auction's log is read back from the journal; past that, re-read."""
NOTE_CACHE: Final = 256
"""Signed checkpoints kept per auction (any size can be signed again: it is deterministic)."""
MAX_LOGS: Final = 64
"""Logs kept in memory beyond those of running auctions: a finished auction's log
(about 150 bytes per event) is dropped, least recently used first, and read back
from the journal when asked for again."""
"""Signed checkpoints kept per auction (any size can be signed again: it is deterministic)."""

_ACTORS: Final = ("bidder", "actor")


class AuctionLog:
    """One auction's tree, with what checkpoints need: each leaf's time and the lot ends."""

    __slots__ = ("digest", "ledger", "loading", "lot_ends", "notes", "pending", "sent", "times")

    def __init__(self, ledger: Ledger, digest: bytes) -> None:
        self.ledger = ledger
        self.digest = digest
        """The spec digest every checkpoint carries."""
        self.times = array("q")
        """``at`` of every leaf, in order: the time of a checkpoint of any size."""
        self.lot_ends: list[int] = []
        """Seqs of the ``lot_ended`` events: the record's checkpoints."""
        self.notes: OrderedDict[int, str | None] = OrderedDict()
        self.loading: asyncio.Task[None] | None = None
        self.pending: list[tuple[int, list[Event]]] = []
        """Durable events heard while the log was being read back from the journal."""
        self.sent = 0
        """Size of the last checkpoint sent on the live stream."""

    @property
    def size(self) -> int:
        return self.ledger.size

    def extend(self, first_seq: int, events: list[Event]) -> list[int]:
        """Append events (skipping any already there); returns the seqs of lot ends."""
        skip = self.size + 1 - first_seq
        if skip < 0:
            raise ValueError(f"gap: event {first_seq} after {self.size}")
        new = events[skip:] if skip else events
        first = first_seq + skip
        self.ledger.add_all(first, [encode_event(event) for event in new])
        self.times.extend([event.at for event in new])
        ends = [seq for seq, e in enumerate(new, start=first) if type(e) is LotEnded]
        self.lot_ends.extend(ends)
        return ends


class Transparency:
    """Every auction's log on this node, its keys, and the checkpoint timer."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        settings = gateway.settings.record
        self.prefix = settings.origin
        """The first part of every log's origin (``record.origin``)."""
        self.interval = settings.checkpoint_interval_ms / 1000
        self.keys: list[SigningKey] = [load_signing_key(path) for path in settings.keys]
        self.ephemeral = not self.keys
        """No key configured: one was made at start, for this process only."""
        if self.ephemeral:
            self.keys = [SigningKey(SignerKey.generate(self.prefix), Window())]
            log.warning(
                "record.keys is empty: signing checkpoints with an ephemeral key %s for this "
                "process; its signatures cannot be checked after a restart or against another "
                "node (create a key with `underbid keys new`)",
                describe(self.keys[0].trusted),
            )
        self.logs: dict[str, AuctionLog] = {}
        self.stats = {"checkpoints_sent": 0, "unsigned": 0, "reloads": 0}
        self._timer: asyncio.TimerHandle | None = None
        gateway.runtime.subscribe(self.on_durable)

    # -------------------------------------------------------------- keys
    @property
    def trusted(self) -> list[TrustedKey]:
        return [k.trusted for k in self.keys]

    def banner(self) -> str:
        keys = ", ".join(f"{k.key.name}+{k.key.verifier.hex_id}" for k in self.keys)
        note = " (ephemeral: made at start, gone at exit)" if self.ephemeral else ""
        return f"  record: checkpoints signed by {keys}{note}"

    # ----------------------------------------------------------- folding
    def _new(self, auction_id: str) -> AuctionLog:
        spec = self.gateway.runtime.auction(auction_id).spec
        ledger = Ledger(auction_id, log_key(self.gateway.secret, auction_id))
        entry = AuctionLog(ledger, spec_digest(spec.raw))
        self.logs[auction_id] = entry
        self._evict()
        return entry

    def _evict(self) -> None:
        """Drop the least recently used logs of finished auctions past :data:`MAX_LOGS`."""
        if len(self.logs) <= MAX_LOGS:
            return
        runtime = self.gateway.runtime
        for auction_id, entry in list(self.logs.items())[:-1]:  # never the newest
            if len(self.logs) <= MAX_LOGS:
                return
            try:
                finished = runtime.auction(auction_id).finished
            except RuntimeError_:
                finished = True  # no longer hosted here: nothing will extend it
            if finished and entry.loading is None:
                del self.logs[auction_id]

    def on_durable(self, auction_id: str, first_seq: int, events: list[Event]) -> None:
        """The runtime's listener: fold the events, send the checkpoints that are due."""
        entry = self.logs.get(auction_id)
        if entry is None:
            entry = self._new(auction_id)
        if entry.loading is not None or first_seq > entry.size + 1:
            self._hold(auction_id, entry, first_seq, events)
            return
        ends = entry.extend(first_seq, events)
        for seq in ends:  # every lot's end is signed at once, at its own size
            self._send(auction_id, entry, seq)
        if entry.size > entry.sent and self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.interval, self._tick)

    def _hold(
        self, auction_id: str, entry: AuctionLog, first_seq: int, events: list[Event]
    ) -> None:
        if sum(len(e) for _, e in entry.pending) + len(events) > MAX_PENDING:
            entry.pending = []  # the journal has them all: read them again
        else:
            entry.pending.append((first_seq, events))
        if entry.loading is None:
            entry.loading = asyncio.get_running_loop().create_task(self._load(auction_id, entry))

    async def _load(self, auction_id: str, entry: AuctionLog) -> None:
        """Read the log back from the journal (what this node did not see)."""
        self.stats["reloads"] += 1
        runtime = self.gateway.runtime
        try:
            while True:
                for seq, data in await runtime.journal.read(auction_id, entry.size):
                    if seq == entry.size + 1:
                        event = decode_event(data)
                        entry.ledger.add_stored(seq, data)
                        entry.times.append(event.at)
                        if type(event) is LotEnded:
                            entry.lot_ends.append(seq)
                pending, entry.pending = entry.pending, []
                for first_seq, events in pending:
                    if first_seq <= entry.size + 1 < first_seq + len(events):
                        entry.extend(first_seq, events)
                if entry.size >= runtime.durable_seq(auction_id):
                    break
        except JournalUnavailable as exc:
            log.warning("%s: cannot read the log back now: %s", auction_id, exc)
        except RuntimeError_:  # no longer hosted here
            pass
        finally:
            entry.loading = None
        if entry.size > entry.sent and self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.interval, self._tick)

    async def log_of(self, auction_id: str) -> AuctionLog:
        """The auction's log, complete up to what is durable now."""
        entry = self.logs.pop(auction_id, None)
        if entry is None:
            entry = self._new(auction_id)
        else:
            self.logs[auction_id] = entry  # the most recently used, last
        durable = self.gateway.runtime.durable_seq(auction_id)
        if entry.size < durable and entry.loading is None:
            entry.loading = asyncio.get_running_loop().create_task(self._load(auction_id, entry))
        if entry.loading is not None:
            await asyncio.shield(entry.loading)
        if entry.size < durable:
            raise JournalUnavailable("the log is still being read back from the journal")
        return entry

    # ------------------------------------------------------- checkpoints
    def checkpoint(self, auction_id: str, entry: AuctionLog, size: int) -> Checkpoint:
        origin = origin_of(self.prefix, auction_id)
        return checkpoint_of(origin, entry.ledger, entry.digest, entry.times, size)

    def note(self, auction_id: str, entry: AuctionLog, size: int) -> str | None:
        """The signed checkpoint of the first ``size`` leaves (None: no key valid then)."""
        notes = entry.notes
        if size in notes:
            notes.move_to_end(size)
            return notes[size]
        note = sign_checkpoint(self.checkpoint(auction_id, entry, size), self.keys)
        if note is None:
            self.stats["unsigned"] += 1
            log.warning("%s: no configured key is valid at size %d's time", auction_id, size)
        notes[size] = note
        if len(notes) > NOTE_CACHE:
            notes.popitem(last=False)
        return note

    def _tick(self) -> None:
        self._timer = None
        for auction_id, entry in list(self.logs.items()):
            if entry.loading is None and entry.size > entry.sent:
                self._send(auction_id, entry, entry.size)

    def _send(self, auction_id: str, entry: AuctionLog, size: int) -> None:
        """One ``checkpoint`` message to every socket of the auction."""
        if size <= entry.sent:
            return
        note = self.note(auction_id, entry, size)
        if note is None:
            return
        tree = entry.ledger.tree
        message = p.Checkpoint(
            server_time=self.gateway.clock.now_ms(),
            size=size,
            root=b64(tree.root(size)),
            note=note,
            previous=entry.sent,
            proof=[b64(h) for h in tree.consistency_proof(entry.sent, size)],
        )
        entry.sent = size
        self.stats["checkpoints_sent"] += 1
        groups = self.gateway.hubs.groups.get(auction_id)
        if not groups:
            return
        built: dict[tuple[p.Codec, bool], bytes] = {}
        for (_, codec, compressed), members in groups.items():
            if not members:
                continue
            frame = built.get((codec, compressed))
            if frame is None:
                payload = p.encode_server(message, codec)
                frame = built[codec, compressed] = frames.message(payload, compressed=compressed)
            for sub in tuple(members):
                sub.write(frame)

    # ----------------------------------------------------------- the record
    async def attach(self, record: dict[str, Any], auction: Auction, *, official: bool) -> None:
        """Seal an audit record (:func:`auction.core.record.audit_record`): each event's
        leaf hash and the log section with the signed checkpoints (docs/record.md)."""
        auction_id = auction.spec.id
        entry = await self.log_of(auction_id)
        log_section(
            record,
            origin=origin_of(self.prefix, auction_id),
            ledger=entry.ledger,
            digest=entry.digest,
            lot_ends=entry.lot_ends,
            note=lambda size: self.note(auction_id, entry, size),
            keys=self.trusted,
            published=auction.finished or official,
        )


# ---------------------------------------------------------------- receipts
def receipt_index(outcome: Outcome, bidder: str, bid_id: str, first_seq: int) -> int | None:
    """The leaf index of a command's own event (its receipt), or None (a duplicate:
    its event was logged by the original)."""
    if outcome.duplicate:
        return None
    for i, event in enumerate(outcome.events):
        if getattr(event, "bid_id", None) == bid_id and bidder in (
            getattr(event, name, None) for name in _ACTORS
        ):
            return first_seq - 1 + i
    return None


# ------------------------------------------------------------------ the API
def _transparency(request: Request) -> tuple[Gateway, Transparency]:
    gateway: Gateway = request.app.state.gateway
    return gateway, gateway.transparency


async def _viewer(request: Request) -> tuple[Auction, str, str | None]:
    """The auction and who asks: (role, bidder), as for the auction's view."""
    from gateway.app import _visible_auction

    auction, claims = await _visible_auction(request)  # a private one: unknown without a token
    if claims is None:
        return auction, "public", None
    return auction, {"observer": "public"}.get(claims.role, claims.role), claims.bidder


def _int(request: Request, name: str, default: int | None, low: int, high: int) -> int:
    from gateway.app import Problem

    text = request.query_params.get(name)
    if text is None:
        if default is None:
            raise Problem(400, "invalid_parameter", f"`{name}` is required")
        return default
    if not text.isdigit() or len(text) > 19:
        raise Problem(400, "invalid_parameter", f"`{name}` must be a non-negative integer")
    value = int(text)
    if not low <= value <= high:
        raise Problem(422, "invalid_parameter", f"`{name}` must be between {low} and {high}")
    return value


async def _log(request: Request) -> tuple[Transparency, Auction, AuctionLog, str, str | None]:
    from gateway.app import Problem

    _, transparency = _transparency(request)
    auction, role, bidder = await _viewer(request)
    try:
        entry = await transparency.log_of(auction.spec.id)
    except JournalUnavailable as exc:
        raise Problem(503, "unavailable", str(exc)) from None
    return transparency, auction, entry, role, bidder


async def well_known_keys(request: Request) -> Response:
    _, transparency = _transparency(request)
    body = key_list(transparency.trusted)
    body["origin"] = transparency.prefix
    body["ephemeral"] = transparency.ephemeral
    return JSONResponse(body, headers={"Cache-Control": "max-age=300"})


def _signed(transparency: Transparency, auction_id: str, entry: AuctionLog, size: int) -> str:
    from gateway.app import Problem

    note = transparency.note(auction_id, entry, size)
    if note is None:
        raise Problem(503, "no_valid_key", "no configured key is valid at that checkpoint's time")
    return note


async def read_checkpoint(request: Request) -> Response:
    transparency, auction, entry, _, _ = await _log(request)
    size = entry.size
    return JSONResponse(
        {
            "auction": auction.spec.id,
            "size": size,
            "root": b64(entry.ledger.tree.root(size)),
            "checkpoint": _signed(transparency, auction.spec.id, entry, size),
            "keys": [f"{k.key.name}+{k.key.hex_id}" for k in transparency.trusted],
        }
    )


def _visible(
    auction: Auction, event: Event, role: str, bidder: str | None
) -> dict[str, Any] | None:
    """The event in full when the role may see all of it, else None."""
    full = event_to_dict(event)
    if role == "official" or auction.finished:
        return full
    if bidder is not None and bidder in (full.get(name) for name in _ACTORS):
        return full  # its own bid, post, confirmation or rejection
    return full if project(auction, event, role) == full else None


async def read_log(request: Request) -> Response:
    transparency, auction, entry, role, bidder = await _log(request)
    auction_id = auction.spec.id
    size = entry.size
    first = _int(request, "from", 1, 1, max(size, 1))
    limit = _int(request, "limit", 1000, 1, MAX_PAGE)
    proofs = request.query_params.get("proofs", "") in ("1", "true")
    try:
        stored = await transparency.gateway.runtime.journal.read(auction_id, first - 1)
    except JournalUnavailable as exc:
        from gateway.app import Problem

        raise Problem(503, "unavailable", str(exc)) from None
    tree = entry.ledger.tree
    items: list[dict[str, Any]] = []
    for seq, data in stored[:limit]:
        if seq > size:
            break
        event = decode_event(data)
        item: dict[str, Any] = {"seq": seq, "index": seq - 1, "leaf": tree.leaf(seq - 1).hex()}
        full = _visible(auction, event, role, bidder)
        if full is not None:
            item["event"] = full
            item["salt"] = entry.ledger.salt(seq).hex()
        else:
            item["event"] = project(auction, event, role)  # what the live stream showed
            item["hidden"] = True
        if proofs:
            item["proof"] = [b64(h) for h in tree.inclusion_proof(seq - 1, size)]
        items.append(item)
    last = items[-1]["seq"] if items else first - 1
    published = auction.finished
    body = {
        "auction": auction_id,
        "origin": origin_of(transparency.prefix, auction_id),
        "role": role,
        "published": published,
        "tree_size": size,
        "root": b64(tree.root(size)),
        "checkpoint": _signed(transparency, auction_id, entry, size) if size else None,
        "log_key": entry.ledger.key.hex() if published or role == "official" else None,
        "entries": items,
        "next": last + 1 if last < size else None,
    }
    return JSONResponse(body)


async def inclusion(request: Request) -> Response:
    transparency, auction, entry, _, _ = await _log(request)
    size = _int(request, "size", entry.size, 1, max(entry.size, 1))
    index = _int(request, "index", None, 0, size - 1)
    return _proof(
        transparency,
        auction.spec.id,
        entry,
        size,
        lambda tree: {
            "index": index,
            "leaf": tree.leaf(index).hex(),
            "proof": [b64(h) for h in tree.inclusion_proof(index, size)],
        },
    )


async def consistency(request: Request) -> Response:
    transparency, auction, entry, _, _ = await _log(request)
    to = _int(request, "to", entry.size, 0, entry.size)
    first = _int(request, "from", None, 0, to)
    return _proof(
        transparency,
        auction.spec.id,
        entry,
        to,
        lambda tree: {
            "from": first,
            "from_root": b64(tree.root(first)),
            "proof": [b64(h) for h in tree.consistency_proof(first, to)],
        },
    )


def _proof(
    transparency: Transparency, auction_id: str, entry: AuctionLog, size: int, build: Any
) -> Response:
    from gateway.app import Problem

    tree = entry.ledger.tree
    try:
        body = build(tree)
    except ProofError as exc:
        raise Problem(422, "invalid_parameter", str(exc)) from None
    body.update(
        {
            "auction": auction_id,
            "size": size,
            "root": b64(tree.root(size)),
            "checkpoint": _signed(transparency, auction_id, entry, size) if size else None,
        }
    )
    return JSONResponse(body)


def routes() -> list[BaseRoute]:
    """The record's routes, for ``gateway.app.create_app``."""
    return [
        Route("/.well-known/underbid-keys.json", well_known_keys, methods=["GET"]),
        Route("/api/auctions/{auction_id}/checkpoint", read_checkpoint, methods=["GET"]),
        Route("/api/auctions/{auction_id}/log", read_log, methods=["GET"]),
        Route("/api/auctions/{auction_id}/proof/inclusion", inclusion, methods=["GET"]),
        Route("/api/auctions/{auction_id}/proof/consistency", consistency, methods=["GET"]),
    ]


__all__ = ["AuctionLog", "Transparency", "b64", "receipt_index", "routes"]
