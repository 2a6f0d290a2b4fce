"""``underbid swarm`` (client/swarm.py): its histogram, its report, and whole runs
against a real gateway on 127.0.0.1 (no timing assertions: only counts)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from auction.cli import _parser
from client.swarm import Histogram, Swarm, SwarmConfig, SwarmStats, summary_table, swarm_spec
from tests.gateway.server_fixture import LiveServer, live_server, now_ms


def test_histogram_percentiles_are_within_one_bucket() -> None:
    h = Histogram()
    for value in range(1, 1001):  # 1..1000 ms
        h.add(float(value))
    assert h.count == 1000
    assert h.max == 1000.0
    for q, exact in ((50, 500), (99, 990), (99.9, 999)):
        got = h.percentile(q)
        assert exact <= got <= exact * Histogram.GROWTH, (q, got)
    assert h.percentile(100) == 1000.0


def test_histogram_empty_and_tiny_values() -> None:
    h = Histogram()
    assert math.isnan(h.percentile(50))
    assert h.summary() == {
        "count": 0,
        "p50_ms": None,
        "p99_ms": None,
        "p999_ms": None,
        "max_ms": None,
    }
    h.add(0.0)
    h.add(-1.0)  # a clock step backwards lands in the first bucket
    assert h.percentile(99) == pytest.approx(0.0)
    assert h.summary()["count"] == 2


def test_swarm_spec_is_a_valid_open_auction() -> None:
    from auction.core import parse_spec

    spec = parse_spec(swarm_spec("s-1", 3, 1_700_000_000_000))
    assert [b.id for b in spec.lots[0].bidders] == ["b0", "b1", "b2"]


def test_cli_parses_the_swarm_options() -> None:
    args = _parser().parse_args(
        ["swarm", "--url", "http://127.0.0.1:9", "--watchers", "7", "--rate", "3.5", "--json", "-"]
    )
    assert (args.command, args.watchers, args.rate, args.json) == ("swarm", 7, 3.5, "-")
    assert args.bidders == 4 and args.auction == "" and args.token == ""


async def _run(server: LiveServer, **options: Any) -> tuple[Swarm, SwarmStats]:
    """One quiet swarm run against ``server`` with the operator token and ``options``."""
    config = SwarmConfig(
        url=server.base_url,
        token=server.operator_token,
        drain_s=15.0,
        progress=False,
        **options,
    )
    swarm = Swarm(config, out=None)
    return swarm, await swarm.run()


def _figures_are_json(figures: dict[str, Any]) -> None:
    text = json.dumps(figures, allow_nan=False)  # no NaN: plain JSON for programs
    assert json.loads(text) == figures


async def test_swarm_creates_an_auction_and_every_bid_reaches_every_watcher() -> None:
    async with live_server() as server:
        swarm, stats = await _run(
            server,
            watchers=6,
            bidders=2,
            rate=40.0,
            duration=0.25,
        )
    assert stats.bids_due == stats.bids_sent == 10
    assert stats.acked == 10 and not stats.rejected
    assert stats.watchers_connected == 6 and stats.watchers_failed == 0
    assert stats.ack.count == 10
    assert stats.delivery.count == 60  # each accepted bid, once per watcher
    assert stats.last_watcher.count == 10 and stats.incomplete == 0
    figures = swarm.figures()
    _figures_are_json(figures)
    assert figures["auction"].startswith("swarm-")
    table = summary_table(figures)
    assert "| bid -> last watcher | 10 |" in table
    assert "refused: none" in table


async def test_swarm_joins_an_existing_auction(server: LiveServer) -> None:
    spec = {
        "id": "join-me",
        "start_at": now_ms() - 1_000,
        "format": "open",
        "start_value": 1_000_000,
        "open": {"duration_s": 600, "decrement": 100},
        "bidders": [{"id": "acme"}, {"id": "globex"}],
    }
    await server.create(spec)
    swarm, stats = await _run(
        server,
        auction="join-me",
        watchers=3,
        bidders=1,
        rate=20.0,
        duration=0.25,
    )
    assert stats.acked == 5 and not stats.rejected
    assert swarm.first_amount == 1_000_000 and swarm.step == 100
    assert stats.delivery.count == 15 and stats.incomplete == 0


async def test_swarm_reports_refused_bids_by_code(server: LiveServer) -> None:
    """Bids above the ceiling are refused by the engine: counted by code, never lost."""
    swarm, stats = await _run(
        server,
        watchers=1,
        bidders=1,
        rate=20.0,
        duration=0.1,
        first_amount=10**13,  # above the ceiling: every bid refused
    )
    assert stats.acked == 0
    assert stats.rejected == {"above_ceiling": 2}
    assert stats.delivery.count == 0 and stats.last_watcher.count == 0
    assert "above_ceiling 2" in summary_table(swarm.figures())


async def test_swarm_without_watchers_waits_for_every_answer(server: LiveServer) -> None:
    """With nothing to deliver, the drain still waits for the last bid's answer."""
    _, stats = await _run(
        server,
        watchers=0,
        bidders=3,
        rate=40.0,
        duration=0.25,
    )
    assert stats.bids_due == stats.bids_sent == stats.acked == stats.ack.count == 10
    assert stats.last_watcher.count == 0 and stats.incomplete == 0


async def test_a_swarm_of_watchers_only(server: LiveServer) -> None:
    """``--rate 0 --bidders 0``: watchers join an auction and only count."""
    swarm, stats = await _run(
        server,
        watchers=3,
        bidders=0,
        rate=0.0,
        duration=0.1,
    )
    assert stats.watchers_connected == 3 and stats.bids_sent == 0
    assert swarm.figures()["bidders_connected"] == 0
