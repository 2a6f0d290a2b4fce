"""A procurement system and an Underbid for the bridge's tests, all for real on
127.0.0.1: the CDB double (tests/cdb/double.py) served by uvicorn, an Underbid
gateway (tests/gateway/server_fixture.py), and a bridge between them, either in
this process (:func:`world`) or as an ``underbid bridge`` process.

Auctions run on fast rounds (:data:`FAST`) so that a whole ProZorro-style
auction takes a few seconds; bots bid over WebSockets with the tokens of the
participation links the bridge wrote into the CDB (:func:`bid_through_links`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bridge.cdb import Cdb
from bridge.http import Backoff
from bridge.plan import Timings
from bridge.service import Bridge
from bridge.store import BridgeStore
from bridge.underbid import Underbid
from client import AuctionClient
from tests.cdb.double import API, AUCTION_TOKEN, DS_PASSWORD, DS_USER, CdbDouble
from tests.gateway.server_fixture import LiveServer, eventually, live_server
from tests.http_server import serve_app

FAST = Timings(rounds=3, first_pause_ms=800, pause_ms=400, turn_ms=700)
"""Rounds of under ten seconds for two bidders."""
QUICK = Backoff(first_s=0.05, max_s=0.4)
TYPES = frozenset({"belowThreshold"})


def iso_in(seconds: float) -> str:
    return (datetime.now(tz=UTC) + timedelta(seconds=seconds)).isoformat()


@dataclass
class World:
    cdb: CdbDouble
    cdb_url: str
    """The double's base URL (the API is under /api/2.5)."""
    server: LiveServer
    state: Path
    bridge: Bridge | None = None

    def make_bridge(self, *, poll_s: float = 0.1, timeout_s: float = 1.0) -> Bridge:
        return Bridge(
            cdb=Cdb(
                self.cdb_url + API,
                AUCTION_TOKEN,
                ds_url=self.cdb_url + "/upload",
                ds_auth=f"{DS_USER}:{DS_PASSWORD}",
                timeout_s=timeout_s,
                backoff=QUICK,
            ),
            underbid=Underbid(
                self.server.base_url, lambda: self.server.operator_token, backoff=QUICK
            ),
            store=BridgeStore(self.state),
            public_url=self.server.base_url,
            timings=FAST,
            types=TYPES,
            poll_s=poll_s,
        )

    def settings_file(self, path: Path, *, poll_ms: int = 100) -> Path:
        """A settings file for an ``underbid bridge`` process against this world."""
        from tests.gateway.server_fixture import SECRET

        path.write_text(
            f"""
[security]
token_secret = "{SECRET}"

[bridge]
cdb_url = "{self.cdb_url}{API}"
ds_url = "{self.cdb_url}/upload"
ds_auth = "{DS_USER}:{DS_PASSWORD}"
underbid_url = "{self.server.base_url}"
state = "{self.state}"
poll_ms = {poll_ms}
timeout_ms = 1000
procurement_method_types = ["belowThreshold"]
first_pause_ms = {FAST.first_pause_ms}
pause_ms = {FAST.pause_ms}
turn_ms = {FAST.turn_ms}
""",
            encoding="utf-8",
        )
        return path

    def auction(self, auction_id: str) -> Any:
        return self.server.gateway.runtime.auction(auction_id)

    def hosted(self) -> list[str]:
        return self.server.gateway.runtime.hosted()


@contextlib.asynccontextmanager
async def world(tmp_path: Path, *, redis_url: str | None = None) -> AsyncIterator[World]:
    cdb = CdbDouble()
    async with serve_app(cdb.app()) as base, live_server(redis_url=redis_url) as server:
        cdb.base = base
        here = World(cdb, base, server, tmp_path / "bridge.sqlite3")
        try:
            yield here
        finally:
            if here.bridge is not None:
                await here.bridge.cdb.close()
                await here.bridge.underbid.close()
                here.bridge.store.close()


def participation_tokens(tender: dict[str, Any], lot_id: str = "") -> dict[str, str]:
    """Bid id -> the token of its participation link, as a bidder would read it."""
    out = {}
    for bid in tender.get("bids", []):
        holders = (
            [bid]
            if not lot_id
            else [v for v in bid.get("lotValues", []) if v.get("relatedLot") == lot_id]
        )
        for holder in holders:
            url = holder.get("participationUrl")
            if url:
                out[bid["id"]] = url.split("#token=", 1)[1]
    return out


async def bid_through_links(
    server: LiveServer, auction_id: str, tokens: dict[str, str], *, extra_steps: int = 1
) -> None:
    """Each bidder connects with its link's token and, in each of its turns, bids
    ``extra_steps`` minimal steps below the most it may bid; returns when the
    auction has finished."""

    async def bidder(token: str) -> None:
        changed = asyncio.Event()
        headers = {"Authorization": f"Bearer {token}"}
        async with (
            httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=5) as http,
            AuctionClient(
                server.base_url,
                auction_id,
                token=token,
                on_event=lambda seq, ev: changed.set(),
                buffer_events=False,
            ) as client,
        ):
            last_round_turn: tuple[Any, Any] | None = None
            while True:
                view = (await http.get(f"/api/auctions/{auction_id}")).json()
                if view.get("finished"):
                    return
                lot = view["lots"][0]
                turn = (lot.get("round"), lot.get("turn"))
                if lot.get("your_turn") and lot.get("max_bid") and turn != last_round_turn:
                    step = lot.get("minimal_step") or 0
                    amount = int(lot["max_bid"]) - step * (extra_steps - 1)
                    result = await client.bid(amount)
                    if result.ok:
                        last_round_turn = turn
                changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), timeout=0.5)

    tasks = [asyncio.create_task(bidder(t)) for t in tokens.values()]
    try:
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
    finally:
        for task in tasks:
            task.cancel()


async def until(predicate: Any, *, timeout: float = 20.0, what: str) -> None:
    await eventually(predicate, timeout=timeout, what=what)


async def reach(bridge: Bridge, auction_id: str, state: str, *, timeout: float = 20.0) -> None:
    """Wait until the bridge's state file has ``auction_id`` in ``state``."""
    await until(
        lambda: (r := bridge.store.get(auction_id)) is not None and r.state == state,
        timeout=timeout,
        what=f"{auction_id} {state}",
    )
