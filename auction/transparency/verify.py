"""``underbid verify``: check an audit record against the server's signatures.

The checks run in this order, and the first that fails stops the run with a
:class:`Discrepancy` naming the check, the place (``events[16]``, seq,
type; ``log.checkpoints[1]``; ``result.lots[0].winner.amount``) and what is
wrong (docs/record.md, "How to check an auction"):

1. **record** — it is an audit record of a known version, with its parts;
2. **signatures** — every checkpoint is a signed note by a trusted key that
   was valid at the checkpoint's time; no trusted key's signature fails;
3. **checkpoints** — every checkpoint is this auction's (origin), commits to
   this record's spec and log key, and no two of one size differ;
4. **sequence** — the events are numbered 1, 2, 3…: nothing missing,
   doubled, inserted or out of order; each is a well-formed event whose
   ``time`` is its ``at``;
5. **leaves** — each event, with its seq and salt, hashes to its ``leaf``;
6. **roots** — the leaves give the root each checkpoint signed, and the
   last checkpoint covers every event (nothing cut off, nothing added);
7. **consistency** — each checkpoint extends the one before (RFC 9162);
8. **receipts** — each receipt given checks by itself, and the record holds
   its very event where the receipt says, under a root consistent with it;
9. **replay** — the engine replays the events to the record's state hash and
   result, and the auction has ended;
10. **summary** — the counts in ``summary`` are the events'.

Pure apart from nothing: it takes parsed JSON and trusted keys, and returns a
:class:`Verdict` (the CLI in :mod:`auction.transparency.cli` fetches and prints).
"""

from __future__ import annotations

import base64
import binascii
import itertools
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from auction.core.engine import Auction
from auction.core.errors import RecordError, SpecError
from auction.core.events import CommandRejected, Event, encode_event
from auction.core.ledger import SALT_BYTES, entry_bytes, key_commitment, salts, spec_digest
from auction.core.merkle import MerkleTree, ProofError, leaf_hash, verify_consistency
from auction.core.money import format_amount
from auction.core.record import RECORD_VERSION, event_from_record, iso, result
from auction.core.spec import parse_spec
from auction.transparency.checkpoints import Checkpoint, CheckpointError, open_checkpoint
from auction.transparency.keys import KeyFileError, TrustedKey, describe, parse_key_list
from auction.transparency.receipts import ReceiptError, check_receipt


class Discrepancy(Exception):
    """The first thing in a record that does not hold."""

    def __init__(self, check: str, where: str, message: str) -> None:
        super().__init__(f"{check}: {where}: {message}")
        self.check = check
        """Which check failed (``signatures``, ``leaves``, ``replay``...)."""
        self.where = where
        """Which part of the record: an event, a field, a checkpoint, a receipt."""
        self.message = message


@dataclass
class Verdict:
    """What ``underbid verify`` found."""

    auction: str
    title: str = ""
    checks: list[str] = field(default_factory=list)
    """What was checked and held, in order, for a citizen."""
    warnings: list[str] = field(default_factory=list)
    problem: Discrepancy | None = None
    lots: list[str] = field(default_factory=list)
    """The outcome of each lot, in words."""

    @property
    def ok(self) -> bool:
        return self.problem is None

    def render(self) -> str:
        name = f"{self.auction} ({self.title})" if self.title else self.auction
        lines = [f"Auction {name}"]
        if self.ok:
            lines.append("VERIFIED: the record is complete and unaltered, as the server signed it.")
        else:
            lines.append("NOT VERIFIED: the record does not match what the server signed.")
        for warning in self.warnings:
            lines.append(f"warning: {warning}")
        if self.problem is not None:
            p = self.problem
            lines += ["", f"First discrepancy (check: {p.check})", f"  {p.where}: {p.message}"]
        if self.checks:
            lines += ["", "Checked and holding:" if self.ok else "Checked before it, holding:"]
            lines += [f"  ok  {check}" for check in self.checks]
        if self.ok and self.lots:
            lines += ["", "Result (as replayed by the engine):", *(f"  {lot}" for lot in self.lots)]
        return "\n".join(lines) + "\n"


def _b64(text: Any, where: str) -> bytes:
    try:
        data = base64.b64decode(text, validate=True) if isinstance(text, str) else b""
    except (binascii.Error, ValueError):
        data = b""
    if len(data) != 32:
        raise Discrepancy("record", where, "not a base64 SHA-256 hash")
    return data


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _event_name(i: int, item: Any) -> str:
    if isinstance(item, Mapping):
        at = item.get("at")
        when = f" at {iso(at)}" if isinstance(at, int) and not isinstance(at, bool) else ""
        return f"events[{i}] (seq {item.get('seq')}, {item.get('type')}{when})"
    return f"events[{i}]"


def first_difference(a: Any, b: Any, path: str) -> tuple[str, Any, Any] | None:
    """The first place two JSON values differ: (path, a's value, b's value)."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        for key in list(a) + [k for k in b if k not in a]:
            if key not in a or key not in b:
                return (f"{path}.{key}", a.get(key, "(absent)"), b.get(key, "(absent)"))
            found = first_difference(a[key], b[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            found = first_difference(x, y, f"{path}[{i}]")
            if found:
                return found
        if len(a) != len(b):
            return (f"{path}", f"{len(a)} items", f"{len(b)} items")
        return None
    if a != b or type(a) is not type(b):
        return (path, a, b)
    return None


class _Run:
    def __init__(self, record: Any, trusted: Sequence[TrustedKey] | None, verdict: Verdict) -> None:
        self.record = record
        self.verdict = verdict
        self.trusted = trusted
        self.events: list[Event] = []
        self.leaves: list[bytes] = []
        self.tree = MerkleTree()
        self.checkpoints: list[tuple[int, Checkpoint]] = []

    def ok(self, text: str) -> None:
        self.verdict.checks.append(text)

    # 1 ------------------------------------------------------------ record
    def structure(self) -> None:
        r = self.record
        if not isinstance(r, Mapping):
            raise Discrepancy("record", "(the file)", "an audit record is a JSON object")
        if r.get("record_version") != RECORD_VERSION:
            raise Discrepancy(
                "record", "record_version", f"{r.get('record_version')!r} is not {RECORD_VERSION}"
            )
        for key, kind in (
            ("auction", str),
            ("spec", dict),
            ("result", dict),
            ("state_hash", str),
            ("events", list),
            ("summary", dict),
        ):
            if not isinstance(r.get(key), kind):
                raise Discrepancy("record", key, f"missing, or not a {kind.__name__}")
        log = r.get("log")
        if not isinstance(log, Mapping):
            raise Discrepancy(
                "record", "log", "missing: this record carries no signed log (is it from a server?)"
            )
        if not isinstance(log.get("checkpoints"), list) or not log["checkpoints"]:
            raise Discrepancy("record", "log.checkpoints", "no signed checkpoint: nothing to trust")
        published = log.get("log_key")
        if not isinstance(published, str):
            raise Discrepancy(
                "record",
                "log.log_key",
                "not published: the record was downloaded before the announcement",
            )
        try:
            self.key = bytes.fromhex(published)
        except ValueError:
            raise Discrepancy("record", "log.log_key", "not hex") from None
        self.verdict.title = str(r["spec"].get("title") or "")
        self.ok(f"an audit record of version {RECORD_VERSION}, with {len(r['events'])} events")

    # 2, 3 ---------------------------------------------------- checkpoints
    def signatures(self) -> None:
        log = self.record["log"]
        if self.trusted is None:
            try:
                self.trusted = parse_key_list(log.get("keys"), "log.keys")
            except KeyFileError as exc:
                raise Discrepancy("record", "log.keys", str(exc)) from None
            self.verdict.warnings.append(
                "checked against the keys the record itself lists: this shows the record is "
                "intact as signed, not who signed it; pass --keys-url (the server's "
                "/.well-known/underbid-keys.json) or --key to check it against the server"
            )
        signers: set[str] = set()
        for i, note in enumerate(log["checkpoints"]):
            where = f"log.checkpoints[{i}]"
            if not isinstance(note, str):
                raise Discrepancy("signatures", where, "a checkpoint is a signed note (text)")
            try:
                checkpoint, keys = open_checkpoint(note, self.trusted)
            except CheckpointError as exc:
                raise Discrepancy("signatures", where, str(exc)) from None
            signers.update(describe(k) for k in keys)
            self.checkpoints.append((i, checkpoint))
        self.ok(
            f"{_count(len(self.checkpoints), 'signed checkpoint')}, each signed by a trusted "
            f"key valid at its time: {', '.join(sorted(signers))}"
        )

    def commitments(self) -> None:
        r = self.record
        digest = spec_digest(r["spec"])
        commitment = key_commitment(self.key)
        seen: dict[int, bytes] = {}
        origin = self.checkpoints[0][1].origin
        for i, cp in self.checkpoints:
            where = f"log.checkpoints[{i}] (size {cp.size})"
            if cp.auction_id != r["auction"] or cp.origin != origin:
                raise Discrepancy(
                    "checkpoints",
                    where,
                    f"it is the checkpoint of {cp.origin}, not of this auction",
                )
            if cp.spec != digest:
                raise Discrepancy(
                    "spec",
                    "spec",
                    f"the spec is not the one the checkpoints signed (its digest is "
                    f"{base64.b64encode(digest).decode()}, {where} signed "
                    f"{base64.b64encode(cp.spec).decode()}): the spec was changed",
                )
            if cp.log_key != commitment:
                raise Discrepancy(
                    "checkpoints", "log.log_key", f"not the log key {where} commits to"
                )
            if seen.get(cp.size, cp.root) != cp.root:
                raise Discrepancy(
                    "checkpoints", where, "another checkpoint of the same size has another root"
                )
            seen[cp.size] = cp.root
        self.ok(f"every checkpoint is of {origin}, and vouches for this spec and this log key")

    # 4, 5 --------------------------------------------------------- events
    def sequence_and_leaves(self) -> None:
        expected = 1
        items = self.record["events"]
        keystream = salts(self.key, 1, len(items)) if items else b""
        for i, item in enumerate(items):
            seq = item.get("seq") if isinstance(item, Mapping) else None
            if not isinstance(seq, int) or isinstance(seq, bool):
                raise Discrepancy("sequence", f"events[{i}].seq", "missing or not an integer")
            if seq != expected:
                if seq == expected - 1:
                    why = f"seq {seq} appears twice: an event was duplicated"
                elif seq < expected:
                    why = f"seq {seq} comes after seq {expected - 1}: events are out of order"
                else:
                    gap = f"{expected}" if seq == expected + 1 else f"{expected} to {seq - 1}"
                    why = f"seq {seq} where {expected} was due: events {gap} are missing"
                raise Discrepancy("sequence", _event_name(i, item), why)
            try:
                event = event_from_record(item, f"events[{i}]")
            except RecordError as exc:
                raise Discrepancy(
                    "sequence", exc.field, f"{_event_name(i, item)}: {exc.message}"
                ) from None
            if item.get("time") != iso(event.at):
                raise Discrepancy(
                    "sequence",
                    f"events[{i}].time",
                    f"{_event_name(i, item)}: time {item.get('time')!r} is not its at "
                    f"({iso(event.at)})",
                )
            salt = keystream[SALT_BYTES * i : SALT_BYTES * (i + 1)]
            leaf = leaf_hash(entry_bytes(seq, salt, encode_event(event)))
            claimed = item.get("leaf")
            if not isinstance(claimed, str) or claimed != leaf.hex():
                if not isinstance(claimed, str):
                    raise Discrepancy(
                        "leaves", f"events[{i}].leaf", f"{_event_name(i, item)}: no leaf hash"
                    )
                raise Discrepancy(
                    "leaves",
                    _event_name(i, item),
                    "its fields do not hash to the leaf logged for it: the event was "
                    "changed after it was logged (or inserted)",
                )
            self.events.append(event)
            self.tree.append(leaf)
            expected += 1
        n = len(self.events)
        self.ok(f"the events are numbered 1 to {n}: none missing, doubled or out of order")
        self.ok("each event, with its seq and salt, hashes to its leaf (RFC 9162, SHA-256)")

    # 6, 7 ---------------------------------------------------------- roots
    def roots(self) -> None:
        n = self.tree.size
        ordered = sorted(self.checkpoints, key=lambda item: item[1].size)
        last_i, last = ordered[-1]
        if last.size > n:
            raise Discrepancy(
                "roots",
                f"log.checkpoints[{last_i}]",
                f"it signed {last.size} events but the record holds {n}: the log was truncated "
                f"(events {n + 1} to {last.size} are gone)",
            )
        if last.size < n:
            raise Discrepancy(
                "roots",
                f"events[{last.size}] (seq {last.size + 1})",
                f"no signed checkpoint covers events {last.size + 1} to {n}: they were added "
                "after the last signature",
            )
        for i, cp in ordered:
            if self.tree.root(cp.size) != cp.root:
                raise Discrepancy(
                    "roots",
                    f"log.checkpoints[{i}] (size {cp.size})",
                    f"events 1 to {cp.size} do not give the root it signed: events and their "
                    "leaf hashes were changed together",
                )
        self.ok(f"the leaves give the root of every checkpoint; the last one covers all {n} events")
        for (_, a), (i, b) in itertools.pairwise(ordered):
            try:
                verify_consistency(
                    a.size, b.size, a.root, b.root, self.tree.consistency_proof(a.size, b.size)
                )
            except ProofError as exc:
                raise Discrepancy("consistency", f"log.checkpoints[{i}]", str(exc)) from None
        self.ok("each checkpoint extends the one before it (RFC 9162 consistency proofs)")

    # 8 ---------------------------------------------------------- receipts
    def receipts(self, receipts: Sequence[tuple[str, Any]]) -> None:
        assert self.trusted is not None
        for name, data in receipts:
            try:
                receipt = check_receipt(data, self.trusted)
            except ReceiptError as exc:
                raise Discrepancy("receipts", name, str(exc)) from None
            if receipt.auction != self.record["auction"]:
                raise Discrepancy("receipts", name, f"a receipt of auction {receipt.auction}")
            if receipt.index >= self.tree.size:
                raise Discrepancy(
                    "receipts",
                    name,
                    f"the record has no event seq {receipt.seq}, which the receipt proves was "
                    "logged: events were deleted",
                )
            if self.tree.leaf(receipt.index) != receipt.leaf:
                raise Discrepancy(
                    "receipts",
                    f"{_event_name(receipt.index, self.record['events'][receipt.index])}",
                    f"it is not the event receipt {name} proves was logged there "
                    f"({receipt.event.__struct_config__.tag} at {iso(receipt.event.at)})",
                )
            cp = receipt.checkpoint
            if cp.size > self.tree.size or self.tree.root(cp.size) != cp.root:
                raise Discrepancy(
                    "receipts",
                    name,
                    f"its signed checkpoint (size {cp.size}) is not consistent with the record",
                )
        if receipts:
            self.ok(
                f"{_count(len(receipts), 'receipt')}: each event is in the record where its "
                "receipt says"
            )

    # 9 ------------------------------------------------------------ replay
    def replay(self) -> Auction:
        r = self.record
        try:
            spec = parse_spec(r["spec"])
        except SpecError as exc:
            raise Discrepancy("replay", f"spec.{exc.field}", exc.message) from None
        if spec.id != r["auction"]:
            raise Discrepancy("replay", "spec.id", f"{spec.id!r} is not {r['auction']!r}")
        auction = Auction(spec)
        for i, event in enumerate(self.events):
            try:
                auction.apply(event)
            except Exception as exc:  # whatever the engine says, it is this event's
                name = _event_name(i, r["events"][i])
                raise Discrepancy("replay", name, f"the engine cannot apply it: {exc}") from None
        if auction.state_hash() != r["state_hash"]:
            raise Discrepancy(
                "replay",
                "state_hash",
                f"the record says {r['state_hash']}, the replay gives {auction.state_hash()}",
            )
        if not auction.finished:
            raise Discrepancy("replay", "events", "the events end before the auction did")
        found = first_difference(r["result"], result(auction), "result")
        if found:
            path, said, got = found
            raise Discrepancy(
                "replay", path, f"the record says {said!r}; replaying the events gives {got!r}"
            )
        self.ok(
            f"replaying the {len(self.events)} events through the engine gives the record's "
            "state hash and result"
        )
        return auction

    # 10 ----------------------------------------------------------- summary
    def summary(self) -> None:
        summary = self.record["summary"]
        by_type = Counter(str(e.__struct_config__.tag) for e in self.events)
        rejections = Counter(e.code for e in self.events if isinstance(e, CommandRejected))
        expected = {
            "events": len(self.events),
            "by_type": dict(sorted(by_type.items())),
            "rejections_by_code": dict(sorted(rejections.items())),
        }
        found = first_difference(summary, expected, "summary")
        if found:
            path, said, got = found
            raise Discrepancy("summary", path, f"the record says {said!r}; the events give {got!r}")
        self.ok("the summary counts what the events hold")


def describe_lots(auction: Auction) -> list[str]:
    """Each lot's outcome in words: winner, price, savings."""
    spec = auction.spec
    out: list[str] = []
    res = result(auction)
    for lot in res["lots"]:

        def money(v: int) -> str:
            return format_amount(v, spec.currency, spec.currency_exponent)

        head = (
            f"lot {lot['lot']}{' ' + repr(lot['title']) if lot['title'] else ''} ({lot['format']})"
        )
        winner = lot["winner"]
        if winner is None:
            out.append(f"{head}: {lot['outcome']}, no winner")
            continue
        line = (
            f"{head}: {lot['outcome']}; winner {winner['name']} ({winner['label']}) at "
            f"{money(winner['amount'])}"
        )
        if lot["savings"] is not None:
            line += (
                f"; savings {money(lot['savings'])} ({lot['savings_percent']}%) against the "
                f"start value {money(lot['start_value'])}"
            )
        out.append(line)
    return out


def verify_record(
    record: Any,
    trusted: Sequence[TrustedKey] | None = None,
    receipts: Sequence[tuple[str, Any]] = (),
) -> Verdict:
    """Run every check (the module docstring); ``trusted`` None: the record's own keys."""
    name = record.get("auction") if isinstance(record, Mapping) else None
    verdict = Verdict(auction=str(name or "(unknown)"))
    run = _Run(record, trusted, verdict)
    try:
        run.structure()
        run.signatures()
        run.commitments()
        run.sequence_and_leaves()
        run.roots()
        run.receipts(receipts)
        auction = run.replay()
        run.summary()
    except Discrepancy as problem:
        verdict.problem = problem
        return verdict
    verdict.lots = describe_lots(auction)
    return verdict
