"""Nodes of one cluster on a real Redis, in one process: following, forwarding,
takeover, hand-over, balance and the clock rule (auction/runtime/cluster.py).

Each node is a :class:`ClusterRuntime` with its own Redis client, as separate
processes would have; "killing" a node stops its loops without a word to the
others (no hand-over, no leaving the registry), as ``kill -9`` would. The
multi-process tests (real ``underbid serve`` nodes) are in tests/cluster/.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from auction.core import Auction, PlaceBid
from auction.core.commands import Pause
from auction.core.events import Event, decode_event
from auction.runtime.bus import RedisBus
from auction.runtime.cluster import ClusterRuntime
from auction.runtime.host import Unavailable
from auction.runtime.redis import RedisJournal
from tests.factories import open_spec
from tests.redis_server import RedisServer

HEARTBEAT_MS = 100
NODE_TTL_MS = 600


def now_ms() -> int:
    return int(time.time() * 1000)


async def eventually(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await asyncio.sleep(0.01)


class Nodes:
    """Cluster nodes on one Redis, started and stopped by the test."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.nodes: list[ClusterRuntime] = []
        self.heard: dict[str, list[tuple[str, int, list[Event]]]] = {}

    async def start(self, name: str, **kw: Any) -> ClusterRuntime:
        journal = RedisJournal(self.url)
        bus = RedisBus(journal.client, node_ttl_ms=NODE_TTL_MS)
        node = ClusterRuntime(
            journal, bus, node_id=name, heartbeat_ms=HEARTBEAT_MS, lease_ms=5_000, **kw
        )
        heard = self.heard.setdefault(name, [])
        node.subscribe(lambda a, first, events: heard.append((a, first, list(events))))
        await node.start()
        self.nodes.append(node)
        return node

    async def kill(self, node: ClusterRuntime) -> None:
        """As kill -9: the loops stop, nothing is released, nobody is told."""
        node._running = False
        for task in node._tasks:
            task.cancel()
        for task in node._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        node._tasks.clear()
        self.nodes.remove(node)
        await node.journal.close()

    async def stop(self, node: ClusterRuntime) -> None:
        await node.stop()
        self.nodes.remove(node)
        await node.journal.close()

    async def close(self) -> None:
        for node in list(self.nodes):
            with contextlib.suppress(Exception):
                await self.stop(node)

    def seqs_heard(self, name: str, auction_id: str) -> list[int]:
        out = []
        for a, first, events in self.heard[name]:
            if a == auction_id:
                out.extend(range(first, first + len(events)))
        return out


@pytest.fixture
async def cluster(redis_server: RedisServer) -> AsyncIterator[Nodes]:
    nodes = Nodes(redis_server.url)
    try:
        yield nodes
    finally:
        await nodes.close()


async def _bid(node: ClusterRuntime, auction_id: str, bidder: str, amount: int, bid_id: str) -> Any:
    return await node.submit(auction_id, PlaceBid(bidder=bidder, amount=amount, bid_id=bid_id))


async def _same_as_the_journal(*nodes: ClusterRuntime, auction_id: str) -> None:
    """Each node's engine, once quiet, hashes like a fresh replay of the journal."""
    journal = nodes[0].journal
    spec = nodes[0].auction(auction_id).spec

    async def settled() -> bool:
        events = [decode_event(d) for _, d in await journal.read(auction_id)]
        want = Auction.replay(spec, events).state_hash()
        try:
            return all(
                n.auction(auction_id).state.seq == len(events)
                and n.auction(auction_id).state_hash() == want
                for n in nodes
            )
        except Unavailable:  # a node reading it again from the journal
            return False

    def where() -> str:
        out = []
        for n in nodes:
            try:
                engine = n.auction(auction_id)
                out.append(f"{n.node_id}: seq {engine.state.seq}, owner {n.owner_of(auction_id)}")
            except Unavailable as exc:
                out.append(f"{n.node_id}: {exc}")
        return "; ".join(out)

    deadline = time.monotonic() + 10
    while not await settled():
        assert time.monotonic() < deadline, f"a node's state is not the journal's: {where()}"
        await asyncio.sleep(0.02)


def _owner(nodes: list[ClusterRuntime], auction_id: str) -> list[str]:
    return [n.node_id for n in nodes if auction_id in n.hosted()]


async def test_any_node_serves_an_auction_created_through_another(cluster: Nodes) -> None:
    a = await cluster.start("node-a")
    b = await cluster.start("node-b")
    await eventually(lambda: a.live == b.live == ["node-a", "node-b"], what="both registered")
    spec = open_spec(3, id="shared", start_at=now_ms(), open={"duration_s": 600, "decrement": 100})
    await a.create(spec)
    found = await b.find("shared")
    assert found.spec.id == "shared"
    await eventually(lambda: len(_owner([a, b], "shared")) == 1, what="one owner")
    await eventually(lambda: a.auction("shared").state.seq >= 2, what="bidding open")
    # Commands through either node, whoever owns it: each decided once, by the owner.
    out = await _bid(b, "shared", "b1", 99_000, "via-b")
    assert out.accepted and out.seq > 0
    again = await _bid(a, "shared", "b1", 99_000, "via-b")
    assert again.duplicate and again.seq >= out.seq
    refused = await _bid(a, "shared", "b2", 99_500, "too-high")
    assert not refused.accepted
    # Every node's state equals a fresh replay of the journal.
    await _same_as_the_journal(a, b, auction_id="shared")
    journal = len(await a.journal.read("shared"))
    for node in (a, b):
        # Each told its listeners every event (bar those before it followed), once, in order.
        heard = cluster.seqs_heard(node.node_id, "shared")
        assert heard == list(range(heard[0], journal + 1)), (node.node_id, heard)


async def test_a_killed_owner_is_replaced_within_a_bound(cluster: Nodes) -> None:
    a = await cluster.start("node-a")
    b = await cluster.start("node-b")
    await eventually(lambda: len(a.live) == len(b.live) == 2, what="both registered")
    await a.create(
        open_spec(3, id="kill", start_at=now_ms(), open={"duration_s": 600, "decrement": 100})
    )
    await b.find("kill")
    await eventually(lambda: len(_owner([a, b], "kill")) == 1, what="one owner")
    owner, survivor = (a, b) if "kill" in a.hosted() else (b, a)
    await eventually(lambda: owner.auction("kill").state.seq >= 2, what="bidding open")
    assert (await _bid(owner, "kill", "b1", 99_000, "before")).accepted
    killed_at = time.monotonic()
    await cluster.kill(owner)
    # The survivor acknowledges again once it has stolen the lease.
    out = await _bid(survivor, "kill", "b2", 98_000, "after")
    took = time.monotonic() - killed_at
    assert out.accepted, out
    assert "kill" in survivor.hosted()
    assert survivor.cluster_stats.steals == 1
    assert took < NODE_TTL_MS / 1000 + 2.0, took
    before = await _bid(survivor, "kill", "b1", 99_000, "before")
    assert before.duplicate  # decided once, by the dead owner, and known to the new one


async def test_a_stopping_node_hands_its_auctions_over(cluster: Nodes) -> None:
    a = await cluster.start("node-a")
    b = await cluster.start("node-b")
    await eventually(lambda: len(a.live) == len(b.live) == 2, what="both registered")
    for i in range(6):
        await a.create(open_spec(2, id=f"h{i}", start_at=now_ms() + 60_000))
    for i in range(6):
        await b.find(f"h{i}")
    await eventually(
        lambda: len(a.hosted()) + len(b.hosted()) == 6 and a.hosted() and b.hosted(), what="spread"
    )
    await cluster.stop(a)
    await eventually(lambda: len(b.hosted()) == 6, timeout=5, what="b owns everything")
    assert b.cluster_stats.steals == 0  # taken over by hand-over, not by a steal


async def test_ownership_is_spread_and_a_joining_node_takes_its_share(cluster: Nodes) -> None:
    nodes = [await cluster.start(f"node-{i}") for i in range(3)]
    await eventually(lambda: all(len(n.live) == 3 for n in nodes), what="all registered")
    for i in range(40):
        await nodes[0].create(open_spec(2, id=f"s{i:02d}", start_at=now_ms() + 60_000))

    def counts() -> Counter[str]:
        return Counter({n.node_id: len(n.hosted()) for n in cluster.nodes})

    await eventually(
        lambda: sum(counts().values()) == 40 and max(counts().values()) <= 15,
        timeout=15,
        what="three-way spread",
    )
    nodes.append(await cluster.start("node-3"))
    await eventually(
        lambda: (
            sum(counts().values()) == 40
            and max(counts().values()) <= 15
            and counts()["node-3"] >= 8
        ),
        timeout=15,
        what="the new node's share",
    )


async def test_a_node_whose_clock_is_off_owns_nothing(cluster: Nodes) -> None:
    skewed = await cluster.start("node-late", local_time=lambda: time.time() - 2.0)
    fine = await cluster.start("node-fine")
    await eventually(lambda: fine.live == ["node-fine"], what="only the good clock registered")
    assert not skewed.eligible and abs(skewed.clock_offset_ms) > 1_500
    for i in range(4):
        await skewed.create(open_spec(2, id=f"c{i}", start_at=now_ms() + 60_000))
    await eventually(
        lambda: len(fine.hosted()) == 4 and not skewed.hosted(), what="hand-over to the good clock"
    )
    # It still serves them, as a follower: a command through it is forwarded.
    assert (await skewed.submit("c0", Pause(official="o"))).accepted


async def test_a_bid_forwarded_to_a_dead_owner_goes_to_the_next_one(cluster: Nodes) -> None:
    """The forwarder waits for whichever node takes the auction over (maybe a
    third one), and sends the bid there: answered within the takeover, not
    after the forward's timeout."""
    nodes = [await cluster.start(f"node-{i}") for i in range(3)]
    await eventually(lambda: all(len(n.live) == 3 for n in nodes), what="all registered")
    for i in range(6):
        await nodes[0].create(
            open_spec(3, id=f"f{i}", start_at=now_ms(), open={"duration_s": 600, "decrement": 100})
        )
    for node in nodes:
        for i in range(6):
            await node.find(f"f{i}")
    await eventually(
        lambda: all(len(_owner(cluster.nodes, f"f{i}")) == 1 for i in range(6)), what="owners"
    )
    (owner,) = [n for n in cluster.nodes if n.hosted()][:1]
    doomed = owner.hosted()
    survivors = [n for n in cluster.nodes if n is not owner]
    await eventually(lambda: all(owner.auction(a).state.seq >= 2 for a in doomed), what="open")
    await cluster.kill(owner)
    began = time.monotonic()
    answers = await asyncio.gather(
        *(
            _bid(survivors[k % 2], auction_id, "b1", 99_000, f"orphan-{auction_id}")
            for k, auction_id in enumerate(doomed)
        )
    )
    took = time.monotonic() - began
    assert all(a.accepted for a in answers), answers
    assert took < NODE_TTL_MS / 1000 + 3, took  # not the 10 s of a forward's timeout


async def test_a_fenced_owner_sends_its_commands_to_the_node_that_fenced_it(
    cluster: Nodes,
) -> None:
    """A node taken over while it still runs (it stalled past its lifetime, and
    the other stole its lease) learns it at its next append: fenced. From then
    on it forwards what its clients send to whoever owns the auction, and a
    command that arrives while it reads the auction again is forwarded too."""
    a = await cluster.start("node-a")
    b = await cluster.start("node-b")
    await eventually(lambda: len(a.live) == len(b.live) == 2, what="both registered")
    await a.create(
        open_spec(3, id="fence", start_at=now_ms(), open={"duration_s": 600, "decrement": 100})
    )
    await b.find("fence")

    def settled() -> bool:  # at the node both assign it to, and nothing moving
        busy = a._taking | b._taking | a._handing_off | b._handing_off
        target = a._target("fence")
        return target == b._target("fence") and _owner([a, b], "fence") == [target] and not busy

    await eventually(settled, what="one owner, nothing moving")
    old, new = (a, b) if "fence" in a.hosted() else (b, a)
    await eventually(lambda: old.auction("fence").state.seq >= 2, what="bidding open")
    assert (await _bid(old, "fence", "b1", 99_000, "before")).accepted

    await new._take("fence", dead=old.node_id)  # as when it took the old one for dead
    assert "fence" in new.hosted() and new.cluster_stats.steals == 1
    with contextlib.suppress(Unavailable):  # its own append is refused: "retry"
        await _bid(old, "fence", "b2", 98_000, "fenced")
    again = await _bid(old, "fence", "b2", 98_000, "fenced")
    assert again.accepted, again
    await _same_as_the_journal(new, old, auction_id="fence")
    assert old.cluster_stats.forward_timeouts == 0


async def test_a_forwarded_bid_brings_its_events_back_with_its_answer(cluster: Nodes) -> None:
    """The owner's answer carries the command's events and goes out in the same
    pipeline as its notice, answer first: the forwarding node folds them from
    the answer and tells its listeners, instead of reading the journal again
    for each notice (a round trip and a second read per bid)."""
    a = await cluster.start("node-a")
    b = await cluster.start("node-b", may_own=False)
    await eventually(lambda: a.live == ["node-a"] and b.live == ["node-a"], what="registered")
    await a.create(
        open_spec(3, id="carried", start_at=now_ms(), open={"duration_s": 600, "decrement": 10})
    )
    await b.find("carried")
    await eventually(lambda: a.auction("carried").state.seq >= 2, what="bidding open")
    await eventually(lambda: b.auction("carried").state.seq >= 2, what="followed")
    reads = 0
    tails = b.bus.tails

    async def counted(after: Any) -> Any:
        nonlocal reads
        reads += 1
        return await tails(after)

    b.bus.tails = counted  # type: ignore[method-assign]
    bids = 40
    for k in range(bids):
        out = await _bid(b, "carried", f"b{k % 3 + 1}", 99_000 - 10 * k, f"carried-{k}")
        assert out.accepted, out
        # Answered once this node's replica has the bid (read your own writes).
        assert b.auction("carried").state.seq >= out.seq
    await _same_as_the_journal(a, b, auction_id="carried")
    heard = cluster.seqs_heard("node-b", "carried")
    assert heard == list(range(heard[0], a.auction("carried").state.seq + 1))
    assert reads <= bids // 4, f"{reads} journal reads for {bids} forwarded bids"


async def test_a_node_not_yet_heard_of_is_not_robbed_of_its_auctions(cluster: Nodes) -> None:
    """A node's list of the live is as old as its last heartbeat. A node that
    joined since, and created (so owns) an auction, is not on it: that must not
    read as dead, or the auction is stolen from it 100 ms after its creation
    and the bids of its first batch are fenced (seen in CI, 1 run in 3 of a
    webhook test with two nodes)."""
    a = await cluster.start("node-a")
    b = await cluster.start("node-b")
    await eventually(lambda: a.live == b.live == ["node-a", "node-b"], what="both registered")
    spec = open_spec(3, id="young", start_at=now_ms(), open={"duration_s": 600, "decrement": 100})
    await b.create(spec)
    await a.find("young")
    await eventually(lambda: a.owner_of("young") == "node-b", what="a hears b owns it")
    await eventually(lambda: b.auction("young").state.seq >= 2, what="bidding open")
    # a's view as if b had joined after a's last heartbeat: b is not on its list,
    # so the assignment gives a every auction and b looks like a dead owner.
    a.live = ["node-a"]
    await a._rebalance()
    assert _owner([a, b], "young") == ["node-b"]
    out = await _bid(b, "young", "b1", 99_000, "first")
    assert out.accepted, out
    # A node that is really gone is still taken over at once.
    await cluster.kill(b)
    await eventually(lambda: _owner([a], "young") == ["node-a"], what="a takes over from dead b")


async def test_no_deadline_fires_while_an_auction_is_handed_over(cluster: Nodes) -> None:
    """A deadline that falls due between the drain and the release is the next
    owner's to fire (whichever node that is, maybe this one again). Fired by the
    old owner, its events followed the drain, while the engine that held them
    became the old owner's replica: two seqs ahead of the journal for good (seen
    in a loaded run of this file: "node-a: seq 6, node-b: seq 4")."""
    a = await cluster.start("node-a")
    b = await cluster.start("node-b")
    await eventually(lambda: a.live == b.live == ["node-a", "node-b"], what="both registered")
    spec = open_spec(
        3, id="handed", start_at=now_ms() + 300, open={"duration_s": 600, "decrement": 100}
    )
    await a.create(spec)
    await b.find("handed")
    assert "handed" in a.hosted()
    release, append = a.journal.release, a.journal.append_batch

    async def slow_release(*args: Any) -> Any:
        await asyncio.sleep(0.6)  # the lot opens meanwhile...
        return await release(*args)

    async def slow_append(*args: Any) -> Any:
        await asyncio.sleep(1.0)  # ...and its append lands once b has taken over
        return await append(*args)

    a.journal.release = slow_release  # type: ignore[method-assign]
    a.journal.append_batch = slow_append  # type: ignore[method-assign]
    await a._hand_off("handed")
    await eventually(lambda: len(_owner([a, b], "handed")) == 1, what="an owner again")
    await asyncio.sleep(1.2)  # whatever a sent is in (or refused by) the journal
    a.journal.release, a.journal.append_batch = release, append  # type: ignore[method-assign]
    owner = a if _owner([a, b], "handed") == ["node-a"] else b
    await eventually(lambda: owner.auction("handed").state.seq >= 2, what="the lot open")
    await _same_as_the_journal(a, b, auction_id="handed")
    for node in (a, b):
        heard = cluster.seqs_heard(node.node_id, "handed")
        assert heard == sorted(set(heard)), (node.node_id, heard)  # each event told once
