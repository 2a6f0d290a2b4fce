"""Finished auctions after a restart: listed, read back from the journal on
demand (read-only, equal to a full replay), bounded in memory, never loaded
for an id the journal did not list. Fake clock, memory journal, no sleeping."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from auction.clock import FakeClock
from auction.core import Auction, PlaceBid, parse_spec
from auction.core.events import decode_event
from auction.runtime.archive import Archive
from auction.runtime.host import AuctionOver, NotHosted, Runtime, Unavailable
from auction.runtime.journal import JournalUnavailable
from tests.factories import SEC, START, open_spec
from tests.runtime.test_host import FlakyJournal, settle

DURATION_S = 60


class CountingJournal(FlakyJournal):
    """Counts the reads, so a test can see which ids cost a journal call."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock)
        self.specs_read: list[str] = []

    async def spec(self, auction_id: str) -> bytes | None:
        self.specs_read.append(auction_id)
        return await super().spec(auction_id)


async def finished_auctions(ids: list[str]) -> tuple[CountingJournal, FakeClock, dict[str, str]]:
    """A journal holding ``ids`` run to their end by a runtime now gone; their hashes."""
    clock = FakeClock(START - SEC)
    journal = CountingJournal(clock)
    runtime = Runtime(journal, clock, node_id="gone")
    await runtime.start(background=False)
    for auction_id in ids:
        await runtime.create(spec_of(auction_id))
    clock.set(START)
    await runtime.tick()
    for i, auction_id in enumerate(ids):
        await runtime.submit(auction_id, PlaceBid(bidder="b1", amount=90_000 - i, bid_id="x"))
    clock.advance(DURATION_S * SEC)
    await runtime.tick()
    await runtime.drain()
    await settle()
    hashes = {i: runtime.auction(i).state_hash() for i in ids}
    assert all(runtime.auction(i).finished for i in ids)
    assert await journal.finished_auctions() == sorted(ids)
    return journal, clock, hashes


def spec_of(auction_id: str) -> dict[str, Any]:
    return open_spec(2, id=auction_id, open={"duration_s": DURATION_S, "decrement": 100})


async def test_a_restarted_runtime_reads_finished_auctions_back_on_demand() -> None:
    journal, clock, hashes = await finished_auctions(["f1"])
    runtime = Runtime(journal, clock, node_id="new")
    await runtime.start(background=False)
    assert runtime.hosted() == []  # nothing to write: it is not adopted
    assert runtime.archive.ids() == ["f1"]
    assert runtime.archive.summary("f1")["state"] == "finished"

    with pytest.raises(Unavailable, match="read back"):  # sync callers: come back soon
        runtime.auction("f1")
    await settle()  # ...the load it started has finished
    auction = runtime.auction("f1")
    assert auction.finished and auction.state_hash() == hashes["f1"]
    events = [decode_event(d) for _, d in await journal.read("f1")]
    assert Auction.replay(parse_spec(spec_of("f1")), events).state_hash() == hashes["f1"]
    assert runtime.durable_seq("f1") == len(events)
    assert runtime.settled("f1") is None
    assert await runtime.find("f1") is auction

    with pytest.raises(AuctionOver, match="is over"):
        await runtime.submit("f1", PlaceBid(bidder="b1", amount=1, bid_id="late"))
    assert len(await journal.read("f1")) == len(events)  # nothing written


async def test_find_waits_for_the_load_and_unknown_ids_cost_no_journal_call() -> None:
    journal, clock, hashes = await finished_auctions(["f1"])
    runtime = Runtime(journal, clock, node_id="new")
    await runtime.start(background=False)
    journal.specs_read.clear()
    assert (await runtime.find("f1")).state_hash() == hashes["f1"]
    for unknown in ("nope", "f1x", "../f1"):
        with pytest.raises(NotHosted, match="not hosted"):
            await runtime.find(unknown)
        with pytest.raises(NotHosted):
            runtime.auction(unknown)
    assert journal.specs_read == ["f1"]  # one load, and nothing for the unknown ids


async def test_only_the_most_recently_used_stay_loaded() -> None:
    journal, _, hashes = await finished_auctions(["f1", "f2", "f3"])
    archive = Archive(journal, capacity=2)
    await archive.open()
    for auction_id in ("f1", "f2", "f1", "f3"):
        loaded = await archive.load(auction_id)
        assert loaded is not None and loaded.state_hash() == hashes[auction_id]
    assert archive.get("f2") is None  # the least recently used went
    assert archive.get("f1") is not None and archive.get("f3") is not None
    assert await archive.load("nope") is None
    with pytest.raises(ValueError, match="capacity"):
        Archive(journal, capacity=0)


async def test_many_readers_of_one_auction_share_one_load() -> None:
    journal, _, _ = await finished_auctions(["f1"])
    archive = Archive(journal)
    await archive.open()
    journal.specs_read.clear()
    loads = [archive.load("f1") for _ in range(10)]
    results = await asyncio.gather(*loads)
    assert len({id(a) for a in results}) == 1
    assert journal.specs_read == ["f1"]


async def test_a_journal_down_at_start_lists_the_finished_later() -> None:
    journal, clock, hashes = await finished_auctions(["f1"])
    real_finished = journal.finished_auctions

    async def down() -> list[str]:
        raise JournalUnavailable("connection refused")

    journal.finished_auctions = down  # type: ignore[method-assign]
    runtime = Runtime(journal, clock, node_id="new")
    await runtime.start(background=False)
    assert not runtime.archive.opened
    with pytest.raises(NotHosted):
        await runtime.find("f1")
    journal.finished_auctions = real_finished  # type: ignore[method-assign]
    await runtime._open_archive()  # what each lease round does until it works
    assert (await runtime.find("f1")).state_hash() == hashes["f1"]


async def test_a_journal_down_while_loading_is_unavailable() -> None:
    journal, clock, hashes = await finished_auctions(["f1"])
    runtime = Runtime(journal, clock, node_id="new")
    await runtime.start(background=False)
    journal.down = True
    with pytest.raises(Unavailable, match="connection refused"):
        await runtime.find("f1")
    journal.down = False
    assert (await runtime.find("f1")).state_hash() == hashes["f1"]
