"""``verify_record``: the untouched record of every format verifies, and every
kind of tampering is caught by the check that should catch it, at the place
it happened."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from auction.transparency.checkpoints import sign_checkpoint
from auction.transparency.keys import SigningKey, TrustedKey, Window, parse_time
from auction.transparency.notes import SignerKey
from auction.transparency.receipts import make_receipt
from auction.transparency.sealing import b64
from auction.transparency.verify import first_difference, verify_record
from tests.transparency.records import FORMATS, KEY, signed, trusted

Record = dict[str, Any]


def first_of(record: Record, kind: str) -> int:
    return next(i for i, e in enumerate(record["events"]) if e["type"] == kind)


def bid_index(record: Record) -> int:
    """An event carrying an amount and a bidder (a bid, a post, or a confirmation)."""
    for kind in ("bid_placed", "price_accepted"):
        for i, e in enumerate(record["events"]):
            if e["type"] == kind:
                return i
    raise AssertionError("no bid in the record")


def amount_field(event: dict[str, Any]) -> str:
    return "amount" if "amount" in event else "price"


# ------------------------------------------------------------- tamperings
def _renumber(r: Record, start: int) -> None:
    for j, e in enumerate(r["events"][start:], start=start):
        e["seq"] = j + 1


def _insert_forged(r: Record) -> int:
    """A copy of a bid with another amount, right after it; returns the bid's index."""
    i = bid_index(r)
    forged = copy.deepcopy(r["events"][i])
    forged[amount_field(forged)] -= 1
    r["events"].insert(i + 1, forged)
    return i


def delete(r: Record) -> tuple[str, str]:
    i = bid_index(r)
    del r["events"][i]
    return "sequence", f"events[{i}] (seq {i + 2}"


def delete_and_renumber(r: Record) -> tuple[str, str]:
    i = bid_index(r)
    del r["events"][i]
    _renumber(r, i)
    return "leaves", f"events[{i}] (seq {i + 1}"


def insert(r: Record) -> tuple[str, str]:
    i = _insert_forged(r)
    return "sequence", f"events[{i + 1}] (seq {i + 1}"


def insert_and_renumber(r: Record) -> tuple[str, str]:
    i = _insert_forged(r)
    _renumber(r, i + 1)
    return "leaves", f"events[{i + 1}] (seq {i + 2}"


def reorder(r: Record) -> tuple[str, str]:
    i = bid_index(r)
    events = r["events"]
    events[i], events[i + 1] = events[i + 1], events[i]
    return "sequence", f"events[{i}] (seq {i + 2}"


def reorder_and_renumber(r: Record) -> tuple[str, str]:
    i = bid_index(r)
    events = r["events"]
    events[i], events[i + 1] = events[i + 1], events[i]
    events[i]["seq"], events[i + 1]["seq"] = i + 1, i + 2
    return "leaves", f"events[{i}] (seq {i + 1}"


def duplicate(r: Record) -> tuple[str, str]:
    i = bid_index(r)
    r["events"].insert(i + 1, copy.deepcopy(r["events"][i]))
    return "sequence", "appears twice"


def change_amount(r: Record) -> tuple[str, str]:
    i = bid_index(r)
    event = r["events"][i]
    event[amount_field(event)] -= 100
    return "leaves", f"events[{i}] (seq {i + 1}"


def change_at(r: Record) -> tuple[str, str]:
    i = bid_index(r)
    r["events"][i]["at"] += 1000
    r["events"][i]["time"] = iso_of(r["events"][i]["at"])
    return "leaves", f"events[{i}] (seq {i + 1}"


def change_time(r: Record) -> tuple[str, str]:
    i = bid_index(r)
    r["events"][i]["time"] = "2020-01-01T00:00:00.000Z"
    return "sequence", f"events[{i}].time"


def change_bidder(r: Record) -> tuple[str, str]:
    i = bid_index(r)
    event = r["events"][i]
    started = r["events"][first_of(r, "lot_started")]["labels"]
    event["bidder"] = next(b for b in started if b != event["bidder"])
    return "leaves", f"events[{i}] (seq {i + 1}"


def change_spec(r: Record) -> tuple[str, str]:
    r["spec"]["title"] = r["spec"].get("title", "") + " (edited)"
    return "spec", "spec"


def change_spec_amount(r: Record) -> tuple[str, str]:
    def bump(node: Any) -> bool:
        if isinstance(node, dict):
            if isinstance(node.get("start_value"), int):
                node["start_value"] += 1
                return True
            return any(bump(v) for v in node.values())
        return isinstance(node, list) and any(bump(v) for v in node)

    assert bump(r["spec"])
    return "spec", "spec"


def change_result(r: Record) -> tuple[str, str]:
    lot = next(lot for lot in r["result"]["lots"] if lot["winner"])
    lot["winner"]["amount"] -= 1
    index = r["result"]["lots"].index(lot)
    return "replay", f"result.lots[{index}].winner.amount"


def change_winner_name(r: Record) -> tuple[str, str]:
    lot = next(lot for lot in r["result"]["lots"] if lot["winner"])
    lot["winner"]["name"] = "Someone Else LLC"
    index = r["result"]["lots"].index(lot)
    return "replay", f"result.lots[{index}].winner.name"


def change_state_hash(r: Record) -> tuple[str, str]:
    r["state_hash"] = "0" * 64
    return "replay", "state_hash"


def truncate(r: Record) -> tuple[str, str]:
    del r["events"][-3:]
    return "roots", "truncated"


def truncate_with_checkpoints(r: Record) -> tuple[str, str]:
    del r["events"][-3:]
    n = len(r["events"])
    kept = [c for c in r["log"]["checkpoints"] if int(c.split("\n")[1]) <= n]
    r["log"]["checkpoints"] = kept
    if not kept:
        return "record", "log.checkpoints"
    return "roots", f"events[{int(kept[-1].split(chr(10))[1])}]"


def append_event(r: Record) -> tuple[str, str]:
    extra = copy.deepcopy(r["events"][-1])
    extra["seq"] += 1
    r["events"].append(extra)
    return "leaves", f"events[{len(r['events']) - 1}]"


def recompute_leaves(r: Record) -> tuple[str, str]:
    """A forger who knows the log key changes an amount and its leaf too."""
    from auction.core.events import encode_event
    from auction.core.ledger import entry_bytes, salt
    from auction.core.merkle import leaf_hash
    from auction.core.record import event_from_record

    i = bid_index(r)
    event = r["events"][i]
    event[amount_field(event)] -= 100
    key = bytes.fromhex(r["log"]["log_key"])
    data = encode_event(event_from_record(event))
    event["leaf"] = leaf_hash(entry_bytes(i + 1, salt(key, i + 1), data)).hex()
    return "roots", "log.checkpoints"


def replace_checkpoint_of_another_auction(r: Record) -> tuple[str, str]:
    other = signed("open" if r["auction"] != signed("open")["auction"] else "dutch")
    r["log"]["checkpoints"][-1] = other["log"]["checkpoints"][-1]
    return "checkpoints", f"log.checkpoints[{len(r['log']['checkpoints']) - 1}]"


def replace_checkpoint_with_a_foreign_key(r: Record) -> tuple[str, str]:
    """A checkpoint for a forged root, signed by a key the verifier does not trust."""
    from auction.transparency.checkpoints import parse_checkpoint
    from auction.transparency.notes import parse

    note = r["log"]["checkpoints"][-1]
    checkpoint = parse_checkpoint(parse(note).text)
    forged = checkpoint.__class__(**{**_fields(checkpoint), "root": bytes(32)})
    intruder = SigningKey(SignerKey.generate("test.example"), Window())
    r["log"]["checkpoints"][-1] = sign_checkpoint(forged, [intruder])
    return "signatures", "no signature by a trusted key"


def forge_signature(r: Record) -> tuple[str, str]:
    note = r["log"]["checkpoints"][-1]
    text, _, line = note.rpartition("\n\n")
    name, sig = line.rstrip("\n").rsplit(" ", 1)
    raw = bytearray(__import__("base64").b64decode(sig))
    raw[10] ^= 1
    r["log"]["checkpoints"][-1] = f"{text}\n\n{name} {b64(bytes(raw))}\n"
    return "signatures", "does not verify"


def alter_signed_root(r: Record) -> tuple[str, str]:
    note = r["log"]["checkpoints"][-1]
    lines = note.split("\n")
    lines[2] = b64(bytes(32))
    r["log"]["checkpoints"][-1] = "\n".join(lines)
    return "signatures", "does not verify"


def strip_signature(r: Record) -> tuple[str, str]:
    note = r["log"]["checkpoints"][-1]
    r["log"]["checkpoints"][-1] = note[: note.rindex("\n\n") + 2]
    return "signatures", "no signature"


def forge_log_key(r: Record) -> tuple[str, str]:
    r["log"]["log_key"] = "00" * 32
    return "checkpoints", "log.log_key"


def hide_log_key(r: Record) -> tuple[str, str]:
    r["log"]["log_key"] = None
    return "record", "log.log_key"


def change_summary(r: Record) -> tuple[str, str]:
    r["summary"]["events"] += 1
    return "summary", "summary.events"


def _fields(checkpoint: Any) -> dict[str, Any]:
    return {name: getattr(checkpoint, name) for name in checkpoint.__slots__}


def iso_of(ms: int) -> str:
    from auction.core.record import iso

    return iso(ms)


TAMPERINGS: list[Callable[[Record], tuple[str, str]]] = [
    delete,
    delete_and_renumber,
    insert,
    insert_and_renumber,
    reorder,
    reorder_and_renumber,
    duplicate,
    change_amount,
    change_at,
    change_time,
    change_bidder,
    change_spec,
    change_spec_amount,
    change_result,
    change_winner_name,
    change_state_hash,
    truncate,
    truncate_with_checkpoints,
    append_event,
    recompute_leaves,
    replace_checkpoint_of_another_auction,
    replace_checkpoint_with_a_foreign_key,
    forge_signature,
    alter_signed_root,
    strip_signature,
    forge_log_key,
    hide_log_key,
    change_summary,
]


# ------------------------------------------------------------------- tests
@pytest.mark.parametrize("fmt", FORMATS)
def test_the_untouched_record_of_every_format_verifies(fmt: str) -> None:
    record = signed(fmt)
    verdict = verify_record(record, trusted())
    assert verdict.ok, verdict.render()
    assert verdict.warnings == []
    text = verdict.render()
    assert text.splitlines()[1].startswith("VERIFIED")
    assert "replaying the" in text
    assert "winner" in text or "no winner" in text


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("tamper", TAMPERINGS, ids=lambda f: f.__name__)
def test_every_tampering_is_caught_precisely(
    fmt: str, tamper: Callable[[Record], tuple[str, str]]
) -> None:
    record = signed(fmt)
    check, where = tamper(record)
    verdict = verify_record(record, trusted())
    assert not verdict.ok, f"{tamper.__name__} went unnoticed"
    problem = verdict.problem
    assert problem is not None
    assert problem.check == check, verdict.render()
    assert where in f"{problem.where}: {problem.message}", verdict.render()
    text = verdict.render()
    assert "NOT VERIFIED" in text
    assert f"First discrepancy (check: {check})" in text


def test_an_expired_key_is_refused() -> None:
    """The verifier trusts the key only until before the auction: its signature is refused."""
    record = signed("open")
    window = Window(None, parse_time("2020-01-01T00:00:00Z", "t"))
    verdict = verify_record(record, [TrustedKey(KEY.trusted.key, window)])
    assert verdict.problem is not None
    assert verdict.problem.check == "signatures"
    assert "was not valid then" in verdict.problem.message
    assert "until 2020-01-01T00:00:00.000Z" in verdict.problem.message


def test_a_key_not_yet_valid_is_refused() -> None:
    record = signed("open")
    window = Window(parse_time("2100-01-01T00:00:00Z", "t"), None)
    verdict = verify_record(record, [TrustedKey(KEY.trusted.key, window)])
    assert verdict.problem is not None and "was not valid then" in verdict.problem.message


def test_rotation_two_signatures_in_the_overlap_each_verifies_alone() -> None:
    old = SigningKey(SignerKey.generate("test.example"), Window())
    new = SigningKey(SignerKey.generate("test.example"), Window())
    from auction.transparency.sealing import seal
    from tests.transparency.records import SECRET, simulated

    record, events = simulated("dutch")
    sealed = seal(copy.deepcopy(record), list(events), secret=SECRET, keys=[old, new])
    note = sealed["log"]["checkpoints"][-1]
    assert note.count("\u2014 test.example ") == 2
    for key in (old, new):
        assert verify_record(copy.deepcopy(sealed), [key.trusted]).ok
    # a retired key: its window ends before the auction, so only the new one may sign
    retired = SigningKey(old.key, Window(None, parse_time("2020-01-01T00:00:00Z", "t")))
    resealed = seal(copy.deepcopy(record), list(events), secret=SECRET, keys=[retired, new])
    assert resealed["log"]["checkpoints"][-1].count("\u2014 test.example ") == 1
    assert verify_record(resealed, [retired.trusted, new.trusted]).ok


def test_without_trusted_keys_the_records_own_keys_are_used_with_a_warning() -> None:
    verdict = verify_record(signed("japanese"))
    assert verdict.ok
    assert "not who signed it" in verdict.warnings[0]
    assert "warning:" in verdict.render()


def test_receipts_verify_and_a_deleted_receipted_bid_is_named() -> None:
    record = signed("open")
    i = bid_index(record)
    receipt = _receipt(record, i)
    verdict = verify_record(copy.deepcopy(record), trusted(), [("bid.json", receipt)])
    assert verdict.ok, verdict.render()
    assert "1 receipt: each event is in the record" in verdict.render()
    # The seller of the record deletes the bid and re-seals nothing: caught as a gap;
    # a forger who also changes the bid in place is caught by the receipt's leaf.
    changed = copy.deepcopy(record)
    changed["events"][i]["amount"] += 5
    verdict = verify_record(changed, trusted(), [("bid.json", receipt)])
    assert verdict.problem is not None and verdict.problem.check == "leaves"
    forged = copy.deepcopy(receipt)
    forged["event"]["amount"] += 5
    verdict = verify_record(copy.deepcopy(record), trusted(), [("bid.json", forged)])
    assert verdict.problem is not None
    assert (verdict.problem.check, verdict.problem.where) == ("receipts", "bid.json")
    assert "do not hash to its leaf" in verdict.problem.message


def _receipt(record: Record, i: int) -> dict[str, Any]:
    from auction.core.ledger import salt
    from auction.core.merkle import MerkleTree

    tree = MerkleTree(bytes.fromhex(e["leaf"]) for e in record["events"])
    size = tree.size
    event = {k: v for k, v in record["events"][i].items() if k not in ("leaf",)}
    entry = {
        "index": i,
        "seq": i + 1,
        "event": event,
        "salt": salt(bytes.fromhex(record["log"]["log_key"]), i + 1).hex(),
        "leaf": record["events"][i]["leaf"],
    }
    proof = [b64(h) for h in tree.inclusion_proof(i, size)]
    return make_receipt(record["auction"], entry, size, proof, record["log"]["checkpoints"][-1])


def test_first_difference_names_the_path() -> None:
    assert first_difference({"a": [1, {"b": 2}]}, {"a": [1, {"b": 3}]}, "r") == ("r.a[1].b", 2, 3)
    assert first_difference({"a": 1}, {"a": 1, "b": 2}, "r") == ("r.b", "(absent)", 2)
    assert first_difference([1], [1, 2], "r") == ("r", "1 items", "2 items")
    assert first_difference({"a": 1}, {"a": True}, "r") == ("r.a", 1, True)
    assert first_difference({"a": 1}, {"a": 1}, "r") is None
