"""The runtime on the embedded journal and a fake clock: durability before
acknowledgement, group commit, outages, fencing, recovery. Nothing sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from auction.clock import FakeClock
from auction.core import Auction, Code, PlaceBid, parse_spec
from auction.core.events import Event, LotEnded, TurnEnded, decode_event
from auction.runtime.host import NotHosted, Runtime, Unavailable
from auction.runtime.journal import Append, JournalError, JournalUnavailable
from auction.runtime.memory import MemoryJournal
from tests.factories import SEC, START, open_spec, rounds_spec


class FlakyJournal(MemoryJournal):
    """A memory journal that can be taken down or made to hold its appends."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock)
        self.down = False
        self.gate: asyncio.Event | None = None
        self.batches: list[int] = []

    async def append_batch(self, appends: Sequence[Append]) -> list[JournalError | None]:
        if self.gate is not None:
            await self.gate.wait()
        if self.down:
            raise JournalUnavailable("connection refused")
        self.batches.append(sum(len(a.events) for a in appends))
        return await super().append_batch(appends)

    async def acquire(self, auction_id: str, owner: str, ttl_ms: int) -> int | None:
        if self.down:
            raise JournalUnavailable("connection refused")
        return await super().acquire(auction_id, owner, ttl_ms)

    async def read(self, auction_id: str, after_seq: int = 0) -> list[tuple[int, bytes]]:
        if self.down:
            raise JournalUnavailable("connection refused")
        return await super().read(auction_id, after_seq)


async def settle() -> None:
    """Let every ready task and callback run (no real time passes)."""
    for _ in range(20):
        await asyncio.sleep(0)


async def started(
    spec: dict[str, Any], *, journal: MemoryJournal | None = None, **kw: Any
) -> tuple[Runtime, FakeClock, FlakyJournal]:
    clock = FakeClock(START - SEC)
    flaky = journal if isinstance(journal, FlakyJournal) else FlakyJournal(clock)
    runtime = Runtime(flaky, clock, node_id="n1", **kw)
    await runtime.start(background=False)
    await runtime.create(spec)
    clock.set(START)
    await runtime.tick()
    await runtime.drain()
    return runtime, clock, flaky


async def journal_events(journal: MemoryJournal, auction_id: str) -> list[Event]:
    return [decode_event(data) for _, data in await journal.read(auction_id)]


def bid(bidder: str, amount: int, bid_id: str) -> PlaceBid:
    return PlaceBid(bidder=bidder, amount=amount, bid_id=bid_id)


async def test_a_bid_is_acknowledged_only_after_its_event_is_in_the_journal() -> None:
    runtime, _, journal = await started(open_spec(3))
    journal.gate = asyncio.Event()
    pending = asyncio.ensure_future(runtime.submit("o1", bid("b1", 90_000, "x")))
    await settle()
    assert not pending.done()
    assert await journal.last_seq("o1") == runtime.durable_seq("o1")
    journal.gate.set()
    outcome = await pending
    assert outcome.accepted
    assert any(getattr(e, "bid_id", "") == "x" for e in await journal_events(journal, "o1"))


async def test_commands_of_one_loop_turn_share_one_round_trip() -> None:
    runtime, _, journal = await started(open_spec(3))
    before = len(journal.batches)
    outcomes = await asyncio.gather(
        *(runtime.submit("o1", bid(f"b{i % 3 + 1}", 90_000 - 100 * i, f"c{i}")) for i in range(50))
    )
    assert all(o.accepted for o in outcomes)
    assert journal.batches[before:] == [50]


async def test_events_decided_during_a_flush_go_in_the_next_batch() -> None:
    runtime, _, journal = await started(open_spec(3))
    journal.gate = asyncio.Event()
    first = asyncio.ensure_future(runtime.submit("o1", bid("b1", 90_000, "a")))
    await settle()
    second = asyncio.ensure_future(runtime.submit("o1", bid("b2", 80_000, "b")))
    await settle()
    journal.gate.set()
    await asyncio.gather(first, second)
    assert journal.batches[-2:] == [1, 1]
    live = runtime.auction("o1")
    replayed = Auction.replay(live.spec, await journal_events(journal, "o1"))
    assert replayed.state_hash() == live.state_hash()


async def test_listeners_hear_only_durable_events_in_order() -> None:
    runtime, _, journal = await started(open_spec(3))
    heard: list[tuple[int, int]] = []
    runtime.subscribe(lambda auction_id, first, events: heard.append((first, len(events))))
    journal.gate = asyncio.Event()
    pending = asyncio.ensure_future(runtime.submit("o1", bid("b1", 90_000, "a")))
    await settle()
    assert heard == []
    journal.gate.set()
    await pending
    assert heard == [(runtime.durable_seq("o1"), 1)]


async def test_a_rejection_is_journaled_and_answered_after_it_is_durable() -> None:
    runtime, _, journal = await started(open_spec(3))
    outcome = await runtime.submit("o1", bid("b1", 200_000, "too-high"))
    assert outcome.rejection is not None
    assert outcome.rejection.code == Code.ABOVE_CEILING
    assert (await journal_events(journal, "o1"))[-1].__struct_config__.tag == "command_rejected"


async def test_a_retried_bid_id_never_adds_an_event() -> None:
    runtime, _, journal = await started(open_spec(3))
    first = await runtime.submit("o1", bid("b1", 90_000, "same"))
    count = await journal.last_seq("o1")
    for _ in range(5):
        again = await runtime.submit("o1", bid("b1", 90_000, "same"))
        assert again.duplicate and again.accepted == first.accepted
    assert await journal.last_seq("o1") == count


async def test_journal_down_means_unavailable_and_no_acknowledgement() -> None:
    runtime, _, journal = await started(open_spec(3), retry_ms=60_000)
    accepted = await runtime.submit("o1", bid("b1", 90_000, "ok"))
    assert accepted.accepted
    journal.down = True
    with pytest.raises(Unavailable):
        await runtime.submit("o1", bid("b2", 80_000, "lost"))
    with pytest.raises(Unavailable):
        await runtime.submit("o1", bid("b3", 70_000, "refused"))
    assert not await runtime.rebuild("o1"), "still down"
    journal.down = False
    assert await runtime.rebuild("o1")
    live = runtime.auction("o1")
    st: Any = live.lot_states["1"]
    assert st.best == {"b1": 90_000}, "only the acknowledged bid survives"
    retry = await runtime.submit("o1", bid("b2", 80_000, "lost"))
    assert retry.accepted and not retry.duplicate


async def test_a_deadline_passing_while_the_journal_is_down_fires_at_its_own_time() -> None:
    spec = rounds_spec(2, rounds={"rounds": 1, "first_pause_s": 10, "pause_s": 10, "turn_s": 60})
    runtime, clock, journal = await started(spec, retry_ms=60_000)
    turn_end = START + 10 * SEC + 60 * SEC
    journal.down = True
    clock.set(turn_end + 90 * SEC)  # both turns end during the outage
    await runtime.tick()
    await runtime.drain()
    with pytest.raises(Unavailable):
        runtime.auction("r1")
    journal.down = False
    assert await runtime.rebuild("r1")
    await runtime.tick()
    await runtime.drain()
    events = await journal_events(journal, "r1")
    ended = [e for e in events if isinstance(e, TurnEnded)]
    assert [e.at for e in ended] == [turn_end, turn_end + 60 * SEC]
    assert runtime.auction("r1").finished


async def test_restart_recovers_from_snapshot_and_tail_and_fires_missed_deadlines() -> None:
    runtime, clock, journal = await started(open_spec(3), snapshot_every=4)
    for i in range(11):
        await runtime.submit("o1", bid(f"b{i % 3 + 1}", 90_000 - 100 * i, f"r{i}"))
    snapshot = await journal.snapshot("o1")
    assert snapshot is not None and 0 < snapshot.seq < await journal.last_seq("o1")
    live_hash = runtime.auction("o1").state_hash()
    # The process dies without releasing its lease; a new one starts after it lapses.
    clock.advance(runtime.lease_ms + 1)
    again = Runtime(journal, clock, node_id="n2")
    await again.start(background=False)
    assert again.hosted() == ["o1"]
    assert again.auction("o1").state_hash() == live_hash
    clock.set(START + 3_600 * SEC)  # the close passed while nobody ran the auction
    await again.tick()
    await again.drain()
    end = (await journal_events(journal, "o1"))[-1]
    assert isinstance(end, LotEnded) and end.at == START + 600 * SEC
    assert await journal.active_auctions() == []


async def test_a_live_lease_keeps_a_second_node_out_and_a_fenced_writer_stops() -> None:
    runtime, clock, journal = await started(open_spec(3))
    other = Runtime(journal, clock, node_id="n2")
    await other.start(background=False)
    assert other.hosted() == []
    with pytest.raises(NotHosted):
        await other.submit("o1", bid("b1", 90_000, "x"))
    clock.advance(runtime.lease_ms + 1)
    assert await other.adopt() == ["o1"]
    with pytest.raises(Unavailable):
        await runtime.submit("o1", bid("b1", 90_000, "stale"))
    assert runtime.hosted() == []
    outcome = await other.submit("o1", bid("b1", 90_000, "fresh"))
    assert outcome.accepted
    ids = [getattr(e, "bid_id", "") for e in await journal_events(journal, "o1")]
    assert "stale" not in ids and "fresh" in ids


async def test_create_validates_the_spec_first() -> None:
    clock = FakeClock(START)
    runtime = Runtime(MemoryJournal(clock), clock)
    await runtime.start(background=False)
    bad = open_spec(3)
    bad["start_value"] = -1
    with pytest.raises(Exception, match="start_value"):
        await runtime.create(bad)
    assert await runtime.journal.active_auctions() == []


async def test_the_background_timer_fires_deadlines_on_the_real_loop() -> None:
    spec = dict(open_spec(2))
    clock = FakeClock(START)
    runtime = Runtime(MemoryJournal(clock), clock)
    await runtime.start(background=True)
    try:
        spec["start_at"] = START
        await runtime.create(spec)
        await settle()
        assert runtime.auction("o1").lot_states["1"].status == "live"
    finally:
        await runtime.stop()


def test_parse_spec_is_the_gate_for_created_auctions() -> None:
    assert parse_spec(open_spec(2)).id == "o1"


async def test_a_lease_reacquired_after_lapsing_rebuilds_instead_of_dropping() -> None:
    runtime, clock, journal = await started(open_spec(3))
    clock.advance(runtime.lease_ms + 1)  # the lease lapsed; nobody took it
    journal.gate = asyncio.Event()
    pending = asyncio.ensure_future(runtime.submit("o1", bid("b1", 90_000, "x")))
    await settle()
    host = runtime._hosts["o1"]
    assert not await journal.renew("o1", "n1", host.epoch, runtime.lease_ms)
    epoch = await journal.acquire("o1", "n1", runtime.lease_ms)
    assert epoch is not None
    runtime._renewed_after_loss(host, epoch)
    journal.gate.set()
    with pytest.raises(Unavailable):
        await pending  # appended under the old epoch: refused, never acknowledged
    assert runtime.hosted() == ["o1"]
    assert await runtime.rebuild("o1")
    assert (await runtime.submit("o1", bid("b1", 80_000, "y"))).accepted
