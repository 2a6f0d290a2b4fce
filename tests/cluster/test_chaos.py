"""Chaos: three real nodes on one real Redis, bids and watchers on random nodes,
and a random node killed (SIGKILL) every few seconds, ten times, each time
started again.

Afterwards, whatever the kills interrupted:

- every acknowledged bid is in the journal exactly once, and no bid twice;
- every watcher's stream, across the nodes it moved between, is its role's
  projection of the journal: no gap, no duplicate, the same events;
- every node's engine hashes like a fresh replay of the journal.

The takeover times (kill -> the first acknowledgement of a bid for an auction
the dead node owned) are printed; the benchmark (benchmarks/cluster.py)
measures them over more kills. Bounded: about 40 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import msgspec

from auction.core import Auction, parse_spec
from auction.core.events import BidPlaced, decode_event
from auction.core.projection import project
from auction.runtime.redis import RedisJournal
from client import AuctionClient
from tests.cluster.nodes import Cluster
from tests.redis_server import RedisServer

KILLS = 10
BIDDERS = ("b1", "b2", "b3")
AUCTIONS = ("chaos-a", "chaos-b")


def _spec(auction_id: str) -> dict[str, Any]:
    return {
        "id": auction_id,
        "start_at": int(time.time() * 1000),
        "format": "open",
        "start_value": 10_000_000,
        "open": {"duration_s": 3600, "decrement": 1, "against": "own"},
        "bidders": [{"id": b, "name": f"Supplier {b}"} for b in BIDDERS],
    }


@dataclass
class Watcher:
    client: AuctionClient
    events: list[tuple[int, dict[str, Any]]] = field(default_factory=list)

    def on_event(self, seq: int, event: dict[str, Any]) -> None:
        self.events.append((seq, event))


@dataclass
class Acks:
    by_auction: dict[str, list[tuple[float, str]]] = field(default_factory=dict)
    """auction -> (time.monotonic() of the answer, bid id) of every acknowledged bid."""

    def add(self, auction_id: str, bid_id: str) -> None:
        self.by_auction.setdefault(auction_id, []).append((time.monotonic(), bid_id))


async def _bidder(
    cluster: Cluster,
    auction_id: str,
    bidder: str,
    acks: Acks,
    stop: asyncio.Event,
    rng: random.Random,
) -> None:
    urls = cluster.urls
    rng.shuffle(urls)
    client = AuctionClient(
        urls[0],
        auction_id,
        token=cluster.token(auction_id, "bidder", bidder),
        also=urls[1:],
        max_backoff_s=0.5,
        buffer_events=False,
    )
    await client.connect()
    try:
        amount = 9_999_000
        k = 0
        while not stop.is_set():
            bid_id = f"{bidder}-{k}"
            while not stop.is_set():
                result = await client.bid(amount, bid_id=bid_id, timeout=15)
                if result.ok:
                    acks.add(auction_id, bid_id)
                    break
                if result.code in ("step_too_small", "above_ceiling"):
                    break  # an engine's answer: decided (not this test's case)
                await asyncio.sleep(0.05)  # unavailable, timeout...: the same bid_id again
            k += 1
            amount -= 1
            await asyncio.sleep(rng.uniform(0.06, 0.12))  # under the 20 messages/s of a client
    finally:
        await client.close()


async def _watcher(cluster: Cluster, auction_id: str, rng: random.Random) -> Watcher:
    urls = cluster.urls
    rng.shuffle(urls)
    holder: list[Watcher] = []
    client = AuctionClient(
        urls[0],
        auction_id,
        also=urls[1:],
        max_backoff_s=0.5,
        buffer_events=False,
        on_event=lambda seq, event: holder[0].on_event(seq, event),
    )
    watcher = Watcher(client)
    holder.append(watcher)
    await client.connect()
    return watcher


async def _owners(cluster: Cluster) -> dict[str, str]:
    for url in cluster.urls:
        with contextlib.suppress(httpx.HTTPError):
            async with httpx.AsyncClient(base_url=url, timeout=2) as http:
                listed = (await http.get("/api/auctions", headers=cluster.auth())).json()
                return {a["id"]: a.get("owner") or "" for a in listed["auctions"]}
    return {}


async def _node_id(url: str) -> str:
    deadline = time.monotonic() + 10
    async with httpx.AsyncClient(base_url=url, timeout=5) as http:
        while True:
            answer = (await http.get("/readyz")).json()
            if "node" in answer:
                node: str = answer["node"]
                return node
            assert time.monotonic() < deadline, answer
            await asyncio.sleep(0.05)


async def test_killing_random_nodes_loses_nothing_acknowledged(redis_server: RedisServer) -> None:
    rng = random.Random(20261201)
    cluster = Cluster(redis_server.url, 3)
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    watchers: list[Watcher] = []
    acks = Acks()
    takeovers: list[float] = []
    try:
        cluster.start_all()
        async with httpx.AsyncClient(base_url=cluster.urls[0], timeout=10) as http:
            for auction_id in AUCTIONS:
                created = await http.post(
                    "/api/auctions", json=_spec(auction_id), headers=cluster.auth()
                )
                assert created.status_code == 201, created.text
        for auction_id in AUCTIONS:
            for _ in range(2):
                watchers.append(await _watcher(cluster, auction_id, rng))
            for bidder in BIDDERS:
                tasks.append(
                    asyncio.create_task(
                        _bidder(
                            cluster, auction_id, bidder, acks, stop, random.Random(rng.random())
                        )
                    )
                )
        await asyncio.sleep(2)
        for _ in range(KILLS):
            victim = rng.randrange(cluster.size)
            dead = await _node_id(cluster.urls[victim])
            owned = [a for a, owner in (await _owners(cluster)).items() if owner == dead]
            killed_at = time.monotonic()
            cluster.kill(victim)
            await asyncio.sleep(rng.uniform(1.0, 2.0))
            cluster.start(victim, wait=False)
            await asyncio.to_thread(cluster.wait_ready, victim)
            await asyncio.sleep(rng.uniform(0.5, 1.5))
            for auction_id in owned:
                after = [t for t, _ in acks.by_auction.get(auction_id, []) if t > killed_at]
                if after:
                    takeovers.append(after[0] - killed_at)
        await asyncio.sleep(1)
    finally:
        stop.set()
        for task in tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 30)
    try:
        journal = RedisJournal(redis_server.url)
        for auction_id in AUCTIONS:
            stored = [(seq, decode_event(data)) for seq, data in await journal.read(auction_id)]
            placed = [e.bid_id for _, e in stored if isinstance(e, BidPlaced)]
            assert len(placed) == len(set(placed)), "a bid in the journal twice"
            acked = {bid_id for _, bid_id in acks.by_auction.get(auction_id, [])}
            assert acked, f"no bid of {auction_id} was acknowledged"
            assert acked <= set(placed), (
                f"acknowledged, not journaled: {sorted(acked - set(placed))[:5]}"
            )
            raw = await journal.spec(auction_id)
            assert raw is not None
            spec = parse_spec(msgspec.json.decode(raw))
            replayed = Auction.replay(spec, [e for _, e in stored])
            want = {seq: project(replayed, e, "public") for seq, e in stored}
            last = stored[-1][0]
            for watcher in (w for w in watchers if w.client.auction_id == auction_id):
                await _caught_up(watcher, last)
                _check_stream(watcher, want)
            for url in cluster.urls:
                await _same_hash(url, cluster, auction_id, replayed.state_hash())
        await journal.close()
    finally:
        for watcher in watchers:
            await watcher.client.close()
        cluster.close()
    print(f"takeover after kill -9 (s): {sorted(round(t, 2) for t in takeovers)}")
    assert takeovers, "no kill hit an owner"
    assert max(takeovers) < 10, takeovers  # the bound is the benchmark's (2 s); this catches a hang


async def _caught_up(watcher: Watcher, last: int) -> None:
    deadline = time.monotonic() + 15
    while not watcher.events or watcher.events[-1][0] < last:
        assert time.monotonic() < deadline, (
            f"a watcher stopped at {watcher.events[-1:]}, journal {last}"
        )
        await asyncio.sleep(0.05)


def _check_stream(watcher: Watcher, want: dict[int, Any]) -> None:
    """Every event once, in order, no gap (a resync view restarts the count), as projected."""
    previous: int | None = None
    for seq, event in watcher.events:
        if event.get("type") == "resync":
            previous = seq
            continue
        if previous is not None:
            assert seq == previous + 1, f"gap or duplicate: {previous} then {seq}"
        assert event == want[seq], (seq, event, want[seq])
        previous = seq


async def _same_hash(url: str, cluster: Cluster, auction_id: str, want: str) -> None:
    deadline = time.monotonic() + 15
    async with httpx.AsyncClient(base_url=url, timeout=5) as http:
        while True:
            record = await http.get(f"/api/auctions/{auction_id}/record", headers=cluster.auth())
            if record.status_code == 200 and record.json().get("state_hash") == want:
                return
            assert time.monotonic() < deadline, f"{url}: state hash never matched the journal's"
            await asyncio.sleep(0.1)
