"""A node stopped on purpose (SIGTERM) while bids flow hands its auctions over:
nothing acknowledged is lost or doubled, its clients are told 1001 and resume
on another node, and no client waits for an answer longer than the hand-over.

And a cluster answers the same on every node: the whole HTTP API through a
node that owns nothing, the auction created through another one.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from auction.core.events import BidPlaced, decode_event
from auction.runtime.redis import RedisJournal
from client import AuctionClient
from tests.cluster.nodes import Cluster
from tests.redis_server import RedisServer


def _spec(auction_id: str) -> dict[str, Any]:
    return {
        "id": auction_id,
        "start_at": int(time.time() * 1000),
        "format": "open",
        "start_value": 10_000_000,
        "open": {"duration_s": 3600, "decrement": 1, "against": "own"},
        "bidders": [{"id": b} for b in ("b1", "b2", "b3", "b4")],
    }


async def test_a_stopped_node_hands_over_with_nothing_lost(redis_server: RedisServer) -> None:
    cluster = Cluster(redis_server.url, 2)
    cluster.start_all()
    stop = asyncio.Event()
    acked: dict[str, list[str]] = {}
    waits: list[float] = []
    closes: list[int | None] = []
    codes: list[str] = []
    try:
        auctions = [f"handoff-{i}" for i in range(4)]
        async with httpx.AsyncClient(base_url=cluster.urls[0], timeout=10) as http:
            for auction_id in auctions:
                created = await http.post(
                    "/api/auctions", json=_spec(auction_id), headers=cluster.auth()
                )
                assert created.status_code == 201, created.text

        async def bidder(auction_id: str, bidder: str, first: int) -> None:
            urls = cluster.urls[first:] + cluster.urls[:first]
            client = AuctionClient(
                urls[0],
                auction_id,
                token=cluster.token(auction_id, "bidder", bidder),
                also=urls[1:],
                max_backoff_s=0.3,
                buffer_events=False,
            )
            await client.connect()
            try:
                k = 0
                while not stop.is_set():
                    bid_id = f"{bidder}-{k}"
                    asked = time.monotonic()
                    while not stop.is_set():
                        result = await client.bid(9_999_000 - k, bid_id=bid_id, timeout=15)
                        if result.ok:
                            break
                        codes.append(result.code)
                        await asyncio.sleep(0.1)
                    else:
                        break
                    waits.append(time.monotonic() - asked)
                    acked.setdefault(auction_id, []).append(bid_id)
                    k += 1
                    await asyncio.sleep(0.1)  # 10 bids/s: under the 20 messages/s a client may send
            finally:
                closes.append(client.close_code)
                await client.close()

        tasks = [
            asyncio.create_task(bidder(a, b, i % 2))
            for i, (a, b) in enumerate((a, b) for a in auctions for b in ("b1", "b2"))
        ]
        await asyncio.sleep(1.5)
        stopped_at = time.monotonic()
        status = await asyncio.to_thread(cluster.stop, 0)
        handoff_s = time.monotonic() - stopped_at
        # uvicorn re-raises the SIGTERM it handled once it has shut down cleanly.
        assert status in (0, -15), cluster.tail(0)
        assert "handed" in cluster.tail(0, 200), cluster.tail(0)
        await asyncio.sleep(1.5)  # the bids go on through the survivor alone
        stop.set()
        for task in tasks:
            await asyncio.wait_for(task, 30)
        journal = RedisJournal(redis_server.url)
        for auction_id in auctions:
            placed = [
                e.bid_id
                for _, data in await journal.read(auction_id)
                if isinstance(e := decode_event(data), BidPlaced)
            ]
            assert len(placed) == len(set(placed)), "a bid in the journal twice"
            assert set(acked[auction_id]) <= set(placed)
        await journal.close()
        async with httpx.AsyncClient(base_url=cluster.urls[1], timeout=5) as http:
            owners = (await http.get("/api/auctions", headers=cluster.auth())).json()["auctions"]
        survivor = owners[0]["owner"]
        assert all(a["owner"] == survivor for a in owners), owners
    finally:
        stop.set()
        cluster.close()
    print(f"hand-over took {handoff_s:.2f} s; the longest wait for an answer {max(waits):.2f} s")
    print(f"answers other than an ack, retried: {sorted(set(codes))}; closes {closes}")
    # No client waited for an answer much longer than the hand-over took.
    assert max(waits) < handoff_s + 5, (max(waits), handoff_s)


async def test_any_node_answers_the_whole_api_the_same(redis_server: RedisServer) -> None:
    cluster = Cluster(redis_server.url, 2)
    cluster.start_all()
    try:
        first, second = cluster.urls
        async with (
            httpx.AsyncClient(base_url=first, timeout=10) as a,
            httpx.AsyncClient(base_url=second, timeout=10) as b,
        ):
            created = await a.post(
                "/api/auctions", json=_spec("everywhere"), headers=cluster.auth()
            )
            assert created.status_code == 201
            # Straight away on the other node: the view, tokens, controls, people.
            view = await b.get("/api/auctions/everywhere")
            assert view.status_code == 200 and view.json()["auction"] == "everywhere"
            token = await b.post(
                "/api/auctions/everywhere/tokens", json={"bidder": "b1"}, headers=cluster.auth()
            )
            assert token.status_code == 201
            for client, action in ((b, "pause"), (a, "resume")):
                done = await client.post(
                    f"/api/auctions/everywhere/controls/{action}", json={}, headers=cluster.auth()
                )
                assert done.status_code == 200, done.text
            refused = await b.post(
                "/api/auctions/everywhere/controls/resume", json={}, headers=cluster.auth()
            )
            assert refused.status_code == 409 and refused.json()["code"] == "not_paused"
            bidder = AuctionClient(second, "everywhere", token=token.json()["token"])
            async with bidder:
                assert (await bidder.bid(9_000_000)).ok
                again = await bidder.bid(9_000_000)
                assert again.code == "step_too_small"
            # Both nodes come to the same seq and the same view.
            deadline = time.monotonic() + 10
            while True:
                views = [(await c.get("/api/auctions/everywhere")).json() for c in (a, b)]
                for view in views:
                    view.pop("server_time")
                if views[0] == views[1]:
                    break
                differ = {
                    k: (views[0].get(k), views[1].get(k))
                    for k in views[0]
                    if views[0].get(k) != views[1].get(k)
                }
                assert time.monotonic() < deadline, differ
                await asyncio.sleep(0.05)
    finally:
        cluster.close()
