"""The verifiable record, live: a watcher checks every checkpoint and
consistency proof through whole auctions, bidders' receipts verify after the
end, `underbid verify` accepts the downloaded record against the published
keys, and nothing served before the announcement reveals what a role may not
see."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import pytest

from auction.cli import main
from auction.core.events import BidPlaced, encode_event
from auction.core.ledger import event_leaf
from auction.core.merkle import ProofError, verify_consistency
from auction.transparency.checkpoints import open_checkpoint
from auction.transparency.keys import TrustedKey, parse_key_list
from client.receipts import check_receipt, fetch_keys, fetch_receipt
from gateway import protocol as p
from tests.factories import open_spec, rounds_spec
from tests.gateway.server_fixture import LiveServer, eventually, live_server, now_ms

FAST = {"UNDERBID_RECORD_CHECKPOINT_INTERVAL_MS": "50"}


class Watcher:
    """Verifies every checkpoint it is sent: signature, key window, and the
    consistency proof from the last one it verified."""

    def __init__(self, keys: list[TrustedKey], auction_id: str) -> None:
        self.keys = keys
        self.auction_id = auction_id
        self.size = 0
        self.root = b""
        self.verified: list[int] = []
        self.failures: list[str] = []

    def __call__(self, message: p.Checkpoint) -> None:
        try:
            checkpoint, _ = open_checkpoint(message.note, self.keys)
            assert checkpoint.auction_id == self.auction_id
            assert checkpoint.size == message.size
            root = base64.b64decode(message.root)
            assert checkpoint.root == root
            if self.verified:
                assert message.previous == self.size, "a checkpoint was skipped"
            proof = [base64.b64decode(h) for h in message.proof]
            if self.size:
                verify_consistency(self.size, message.size, self.root, root, proof)
            self.size, self.root = message.size, root
            self.verified.append(message.size)
        except (AssertionError, ValueError, ProofError) as exc:
            self.failures.append(f"at size {message.size}: {exc!r}")


async def keys_of(server: LiveServer) -> list[TrustedKey]:
    response = await server.http.get("/.well-known/underbid-keys.json")
    assert response.status_code == 200
    body = response.json()
    assert body["ephemeral"] is True and body["origin"] == "underbid"
    return parse_key_list(body, "well-known")


async def test_a_watcher_verifies_every_checkpoint_and_receipts_verify_after_the_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with live_server(FAST) as server:
        start = now_ms() + 300
        spec = open_spec(3, id="rec-open", start_at=start, open={"duration_s": 3})
        aid = await server.create(spec)
        keys = await keys_of(server)
        assert keys == await fetch_keys(server.base_url)
        watcher = Watcher(keys, aid)
        json_watcher = Watcher(keys, aid)
        await server.connect(aid, on_checkpoint=watcher)
        await server.connect(aid, codec="json", on_checkpoint=json_watcher)
        tokens = {b: await server.issue(aid, bidder=b) for b in ("b1", "b2", "b3")}
        bidders = {b: await server.connect(aid, t) for b, t in tokens.items()}
        await eventually(lambda: server.gateway.runtime.durable_seq(aid) >= 2, timeout=5)
        receipts: list[tuple[str, int]] = []
        amount = 99_000
        for round_ in range(6):
            for name, client in bidders.items():
                result = await client.bid(amount)
                if result.ok:
                    assert result.leaf_index is not None
                    receipts.append((name, result.leaf_index))
                amount -= 200
            del round_
            durable = server.gateway.runtime.durable_seq(aid)
            await eventually(
                lambda d=durable: watcher.size >= d,  # type: ignore[misc]
                what="the round's checkpoint",
            )
        auction = server.gateway.runtime.auction(aid)
        await eventually(lambda: auction.finished, timeout=10, what="the end")
        size = server.gateway.runtime.durable_seq(aid)
        await eventually(lambda: watcher.size == size and json_watcher.size == size, timeout=5)
        assert watcher.failures == [] and json_watcher.failures == []
        assert len(watcher.verified) >= 3
        assert receipts
        # every ack's leaf is the bid's own event
        stored = await server.journal_events(aid)
        for name, index in receipts:
            event = stored[index][1]
            assert event == encode_event(_event_of(stored, index))
            assert f"{name}".encode() in event
        # receipts fetched with the bidder's token check against the published keys
        paths: list[str] = []
        for n, (name, index) in enumerate(receipts[:4]):
            receipt = await fetch_receipt(server.base_url, aid, index, token=tokens[name])
            checked = check_receipt(receipt, keys)
            assert checked.index == index and isinstance(checked.event, BidPlaced)
            assert checked.event.bidder == name
            path = tmp_path / f"receipt-{n}.json"
            path.write_text(json.dumps(receipt))
            paths.append(str(path))
        # after the announcement the record is public, sealed, and verifies
        response = await server.http.get(f"/api/auctions/{aid}/record")
        assert response.status_code == 200, response.text
        record = response.json()
        assert record["log"]["tree_size"] == len(record["events"]) == size
        assert record["log"]["checkpoints"][-1].startswith(f"underbid/{aid}\n{size}\n")
        assert base64.b64decode(record["log"]["root"]) == watcher.root
        record_path = tmp_path / "record.json"
        record_path.write_text(json.dumps(record))
        receipt_args = [a for path in paths for a in ("--receipt", path)]
        keys_url = f"{server.base_url}/.well-known/underbid-keys.json"
        capsys.readouterr()
        code = await asyncio.to_thread(
            main, ["verify", str(record_path), "--keys-url", keys_url, *receipt_args]
        )
        out = capsys.readouterr().out
        assert code == 0, out
        assert "VERIFIED" in out and f"{len(paths)} receipts" in out and "winner" in out
        # a deleted receipted bid is named
        index = receipts[0][1]
        del record["events"][index]
        record_path.write_text(json.dumps(record))
        code = await asyncio.to_thread(
            main, ["verify", str(record_path), "--keys-url", keys_url, *receipt_args]
        )
        out = capsys.readouterr().out
        assert code == 1 and "First discrepancy (check: sequence)" in out
        assert f"events[{index}]" in out


def _event_of(stored: list[tuple[int, bytes]], index: int) -> Any:
    from auction.core.events import decode_event

    return decode_event(stored[index][1])


async def test_every_node_serves_the_same_proofs_from_the_journal() -> None:
    """A log rebuilt from the journal alone (as another node, or this one after a
    restart, builds it) gives the same tree and the same signed checkpoints."""
    async with live_server(FAST) as server:
        spec = open_spec(2, id="rec-rebuild", start_at=now_ms(), open={"duration_s": 600})
        aid = await server.create(spec)
        client = await server.connect(aid, await server.issue(aid, bidder="b1"))
        await eventually(lambda: server.gateway.runtime.durable_seq(aid) >= 2, timeout=5)
        for amount in (99_000, 98_000, 97_000):
            assert (await client.bid(amount)).ok
        transparency = server.gateway.transparency
        live = transparency.logs[aid]
        before = (live.ledger.tree.levels, transparency.note(aid, live, live.size))
        del transparency.logs[aid]  # forget it: read it back from the journal
        rebuilt = await transparency.log_of(aid)
        assert (rebuilt.ledger.tree.levels, transparency.note(aid, rebuilt, rebuilt.size)) == before
        assert (await client.bid(96_000)).ok  # and it goes on from there
        await eventually(lambda: rebuilt.size == server.gateway.runtime.durable_seq(aid))


async def test_before_the_announcement_hidden_leaves_are_hashes_that_give_nothing_away() -> None:
    async with live_server(FAST) as server:
        start = now_ms() + 200
        spec = rounds_spec(
            3,
            id="rec-rounds",
            start_at=start,
            rounds={"rounds": 1, "first_pause_s": 0.2, "pause_s": 0.2, "turn_s": 30},
        )
        aid = await server.create(spec)
        first = await turn_of(server, aid)
        token = await server.issue(aid, bidder=first)
        bidder = await server.connect(aid, token)
        posted = 87_300
        result = await bidder.bid(posted, bid_id="guessable-1")
        assert result.ok and result.leaf_index is not None
        index = result.leaf_index
        others = [b for b in ("b1", "b2", "b3") if b != first]
        other_token = await server.issue(aid, bidder=others[0])
        served: dict[str, str] = {}
        for role, headers in (
            ("public", {}),
            ("other bidder", {"authorization": f"Bearer {other_token}"}),
        ):
            texts = []
            for path in (
                f"/api/auctions/{aid}/log?proofs=1",
                f"/api/auctions/{aid}/proof/inclusion?index={index}",
                f"/api/auctions/{aid}/proof/consistency?from=1",
                f"/api/auctions/{aid}/checkpoint",
            ):
                response = await server.http.get(path, headers=headers)
                assert response.status_code == 200, (path, response.text)
                texts.append(response.text)
            served[role] = "\n".join(texts)
            log = json.loads(texts[0])
            assert log["published"] is False and log["log_key"] is None
            entry = log["entries"][index]
            assert entry["hidden"] is True and "salt" not in entry
            assert entry["event"]["amount"] is None  # the rounds post stays hidden
            for other_id in ("b1", "b2", "b3"):
                if role == "public" or other_id != others[0]:
                    assert f'"{other_id}"' not in served[role], (role, other_id)
            assert "guessable-1" not in served[role]
            assert str(posted) not in served[role]
        # The bidder's own leaf is served in full, with its salt: a receipt.
        own = await server.http.get(
            f"/api/auctions/{aid}/log?from={index + 1}&limit=1",
            headers={"authorization": f"Bearer {token}"},
        )
        entry = own.json()["entries"][0]
        assert entry["event"]["amount"] == posted and "salt" in entry
        # Knowing every field but the amount, trying every amount finds nothing
        # without the log key; with it (published after the end) the leaf is found.
        leaf = bytes.fromhex(entry["leaf"])
        at = entry["event"]["at"]

        def guess(key: bytes) -> int | None:
            for amount in range(80_000, 90_001):
                event = BidPlaced(
                    at=at,
                    lot="1",
                    bidder=first,
                    amount=amount,
                    bid_id="guessable-1",
                    surrogate_by="",
                )
                if event_leaf(key, index + 1, encode_event(event)) == leaf:
                    return amount
            return None

        assert guess(bytes(32)) is None
        assert guess(server.gateway.transparency.logs[aid].ledger.key) == posted


async def turn_of(server: LiveServer, aid: str) -> str:
    """The bidder whose turn has started (from the journal)."""
    from auction.core.events import TurnStarted, decode_event

    found: list[str] = []

    async def look() -> None:
        found[:] = [
            e.bidder
            for _, data in await server.journal_events(aid)
            if isinstance(e := decode_event(data), TurnStarted)
        ]

    for _ in range(400):
        await look()
        if found:
            return found[0]
        await eventually(lambda: True)
        import asyncio

        await asyncio.sleep(0.01)
    raise AssertionError("no turn started")


async def test_the_record_and_the_proofs_refuse_what_they_must(server: LiveServer) -> None:
    spec = open_spec(2, id="rec-private", start_at=now_ms(), public=False)
    aid = await server.create(spec)
    http = server.http
    for path in ("log", "checkpoint", "proof/inclusion?index=0", "record"):
        response = await http.get(f"/api/auctions/{aid}/{path}")
        assert response.status_code == 404, path  # a private auction is not revealed
        assert response.json()["code"] == "unknown_auction"
    bidder = {"authorization": f"Bearer {await server.issue(aid, bidder='b1')}"}
    assert (await http.get(f"/api/auctions/{aid}/record", headers=bidder)).status_code == 403
    await eventually(lambda: server.gateway.runtime.durable_seq(aid) >= 1, timeout=5)
    for query, status in (
        ("proof/inclusion", 400),
        ("proof/inclusion?index=x", 400),
        ("proof/inclusion?index=99", 422),
        ("proof/inclusion?index=0&size=99", 422),
        ("proof/consistency?from=5&to=2", 422),
        ("log?limit=0", 422),
        ("log?limit=99999999", 422),
    ):
        response = await http.get(f"/api/auctions/{aid}/{query}", headers=bidder)
        assert response.status_code == status, (query, response.text)
        assert response.json()["code"] == "invalid_parameter"
    official = await http.get(f"/api/auctions/{aid}/record", headers=server.auth())
    assert official.status_code == 200
    assert official.json()["log"]["log_key"] is not None  # officials see all, always
    unknown = await http.get("/api/auctions/nope/log")
    assert unknown.status_code == 404


async def test_logs_of_finished_auctions_are_dropped_and_read_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("gateway.transparency.MAX_LOGS", 1)
    async with live_server(FAST) as server:
        first = await server.create(open_spec(2, id="rec-done", start_at=now_ms()))
        await eventually(lambda: server.gateway.runtime.durable_seq(first) >= 2, timeout=5)
        response = await server.http.post(
            f"/api/auctions/{first}/controls/cancel", json={"reason": "test"}, headers=server.auth()
        )
        assert response.status_code == 200, response.text
        transparency = server.gateway.transparency
        done = await transparency.log_of(first)
        levels = done.ledger.tree.levels
        second = await server.create(open_spec(2, id="rec-live", start_at=now_ms()))
        await eventually(lambda: second in transparency.logs, timeout=5)
        assert first not in transparency.logs  # finished, least recently used: dropped
        again = await transparency.log_of(first)
        assert again.ledger.tree.levels == levels
        assert second in transparency.logs  # running: kept
