"""``underbid demo``: a live server, a demo auction, and bots bidding over WebSockets.

The bots are ordinary clients: each connects with its own bidder token through
:class:`client.AuctionClient`, reads its view over the HTTP API (the view a
browser page would show) and bids with the strategies of
:mod:`auction.sim.bots`. The terminal shows the live public ladder; the links
printed at start are the ones a newcomer opens.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sys
from typing import Any, TextIO

import httpx
import uvicorn

from auction.core.commands import AcceptPrice, CancelBid, PlaceBid
from auction.core.record import result
from auction.runtime.loop import wait_set
from auction.sim.bots import Bot, make_bots
from auction.sim.demo import demo_spec
from auction.sim.render import LadderPrinter, print_result
from client import AuctionClient
from gateway.app import OPERATOR, Gateway
from gateway.server import build, learn_address, uvicorn_config
from gateway.settings import Settings

LEAD_MS = 5_000
"""The demo auction starts this long after the server: time to open the links."""


async def live_demo(
    settings: Settings,
    *,
    fmt: str = "rounds",
    pace: float = 1.0,
    seed: int | None = None,
    exit_when_done: bool = False,
    out: TextIO | None = None,
) -> dict[str, Any]:
    """Run the demo; returns the result once the auction ends (and, unless
    ``exit_when_done``, keeps serving until cancelled). Prints to ``out``
    (standard output when None, looked up at call time)."""
    out = out if out is not None else sys.stdout
    gateway, app = build(settings)
    server = uvicorn.Server(uvicorn_config(app, settings))
    serving = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started or serving.done():
            break
        await asyncio.sleep(0.05)
    if not server.started:
        await serving
        raise RuntimeError("the server did not start")
    base = learn_address(gateway, server)
    try:
        return await _run(gateway, base, fmt, pace, seed, exit_when_done, out)
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await serving


async def _run(
    gateway: Gateway,
    base: str,
    fmt: str,
    pace: float,
    seed: int | None,
    exit_when_done: bool,
    out: TextIO,
) -> dict[str, Any]:
    runtime = gateway.runtime
    start = gateway.clock.now_ms() + int(LEAD_MS / pace)
    spec = await runtime.create(demo_spec(fmt, start, pace=pace))
    printer = LadderPrinter(runtime.auction(spec.id), out)

    def show(auction_id: str, first_seq: int, events: list[Any]) -> None:
        if auction_id == spec.id:
            printer.auction = runtime.auction(spec.id)
            printer(gateway.clock.now_ms(), events, None, None)

    runtime.subscribe(show)
    bidder = spec.lots[0].bidders[0].id
    token = gateway.token(spec.id, "bidder", bidder)
    operator = gateway.token(OPERATOR, "official")
    out.write(
        f"Underbid demo: a live {fmt} auction with bidding bots"
        f"{f' ({pace:g}x real time)' if pace != 1 else ''}. Ctrl-C stops.\n"
        f"  server:          {base}  (journal: {runtime.journal.name})\n"
        f"  dashboard:       {base}/dashboard/{spec.id}#token={operator}\n"
        f"  public view:     {base}/watch/{spec.id}\n"
        f"  {f'bidder {bidder}:':<17}{base}/bid/{spec.id}#token={token}  (its bot bids too)\n"
        f"  WebSocket:       {base.replace('http', 'ws', 1)}/ws/auctions/{spec.id}\n"
        f"  operator token:  {operator}\n"
        "The auction starts in a few seconds; bidders stay anonymous until the end.\n"
        "The tokens ride in the links' #fragment, which browsers never send to a server.\n"
    )
    out.flush()
    rng = random.Random(seed)
    bots = make_bots(spec, seed=rng.randrange(2**31), pace=pace, margin_ms=250)
    tasks = [asyncio.create_task(_drive(gateway, base, spec.id, bot)) for bot in bots]
    try:
        while not runtime.auction(spec.id).finished:
            await asyncio.sleep(0.2)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    outcome = result(runtime.auction(spec.id))
    print_result(outcome, out)
    out.flush()
    if not exit_when_done:
        out.write("\nThe auction is over; the server keeps serving until Ctrl-C.\n")
        out.flush()
        await asyncio.Event().wait()
    return outcome


async def _drive(gateway: Gateway, base: str, auction_id: str, bot: Bot) -> None:
    """One bot: a WebSocket bidder that decides from its HTTP view."""
    token = gateway.token(auction_id, "bidder", bot.bidder)
    changed = asyncio.Event()
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx.AsyncClient(base_url=base, headers=headers, timeout=10) as http,
        AuctionClient(
            base,
            auction_id,
            token=token,
            on_event=lambda seq, ev: changed.set(),
            buffer_events=False,
        ) as client,
    ):
        while True:
            view = (await http.get(f"/api/auctions/{auction_id}")).json()
            if view.get("finished"):
                return
            now = client.server_now_ms()
            bot.plan(view, now)
            delay = None if bot.wake_at is None else max(0, bot.wake_at - now) / 1000
            changed.clear()
            if await wait_set(changed, delay if delay is not None else 5):
                continue  # something happened: look again
            if bot.wake_at is None:
                continue
            view = (await http.get(f"/api/auctions/{auction_id}")).json()
            for command in bot.commands(view, client.server_now_ms()):
                if isinstance(command, PlaceBid):
                    await client.bid(command.amount, lot=command.lot, bid_id=command.bid_id)
                elif isinstance(command, AcceptPrice):
                    await client.accept(lot=command.lot, bid_id=command.bid_id)
                elif isinstance(command, CancelBid):
                    await client.cancel(lot=command.lot, bid_id=command.bid_id)
