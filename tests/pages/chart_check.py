"""The chart a page draws, checked against the journal.

A page's chart (static/chart.js) folds the events its role received. Here the
same moments come from the journal itself: replay it with the engine, and
after every event take what the role's view ranks first (the best standing
amount of `open` and `rounds`, or the starting price before any; the clock's
price of `japanese` and `dutch`, then the price the winner took). Steps at one
instant count once, at their last value. The page's ``data-points`` must be
exactly these (at, amount) pairs: the same numbers as the ranking at every
moment.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from auction.core import Auction
from auction.core.events import decode_event
from auction.core.views import lot_view
from tests.gateway.server_fixture import LiveServer


def _value(lot: dict[str, Any]) -> int | None:
    if lot["status"] == "scheduled":
        return None
    if lot["format"] in ("japanese", "dutch"):
        if lot["status"] == "live":
            return lot.get("price") or None
        winner = lot.get("winner")
        return winner["amount"] if winner else None
    amounts = [e["amount"] for e in lot["ladder"] if isinstance(e.get("amount"), int)]
    return min(amounts) if amounts else lot["start_value"]


def expected_points(
    server: LiveServer, auction_id: str, events: list[Any], role: str, lot_index: int = 0
) -> list[list[int]]:
    spec = server.gateway.runtime.auction(auction_id).spec
    auction = Auction(spec)
    lot_id = spec.lots[lot_index].id
    points: list[list[int]] = []
    for event in events:
        auction.apply(event)
        if event.lot and event.lot != lot_id:
            continue
        rules, st = auction.rules[lot_id], auction.lot_states[lot_id]
        value = _value(lot_view(rules, st, role, None))
        if value is None:
            continue
        if points and points[-1][1] == value:
            continue
        if points and points[-1][0] == event.at:
            points.pop()
        if points and points[-1][1] == value:
            continue
        points.append([event.at, value])
    return points


async def assert_chart_matches_journal(
    server: LiveServer, page: Any, auction_id: str, lot_index: int = 0
) -> None:
    """The page's chart of the lot shows what the journal says, once both agree on
    how far the auction has got (the page may be an event or two behind)."""
    await page.wait_for_function("() => window.underbidPage && window.underbidPage.state.view")
    role = await page.evaluate("window.underbidPage.state.view.role")
    selector = f"section[data-lot] >> nth={lot_index} >> svg.chart"

    async def both() -> tuple[list[list[int]], list[list[int]]]:
        stored = await server.journal_events(auction_id)
        expected = expected_points(
            server, auction_id, [decode_event(d) for _, d in stored], role, lot_index
        )
        shown = json.loads(await page.locator(selector).get_attribute("data-points") or "[]")
        return expected, shown

    last: list[tuple[list[list[int]], list[list[int]]]] = []

    async def agree() -> bool:
        pair = await both()
        last[:] = [pair]
        return pair[0] == pair[1] and bool(pair[0])

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while not await agree():
        if loop.time() > deadline:
            expected, shown = last[0]
            raise AssertionError(
                f"chart of {auction_id} ({role}): shown {shown}, journal {expected}"
            )
        await asyncio.sleep(0.05)
