"""The Underbid options of the Locust file (docs/loadtesting.md lists them all)."""

from __future__ import annotations

import argparse
from typing import Any

from locust import events
from locust.env import Environment

STRATEGIES = ("undercut", "random")


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    add = parser.add_argument  # Locust's own parser: is_secret and the web UI work there only
    add(
        "--ub-token",
        env_var="UNDERBID_OPERATOR_TOKEN",
        default="",
        is_secret=True,
        help="operator token printed by `underbid serve` (env UNDERBID_OPERATOR_TOKEN)",
    )
    add(
        "--ub-nodes",
        default="",
        help="node URLs, comma-separated (default: --host): the cluster's nodes, or "
        "independent servers with --ub-placement pinned",
    )
    add(
        "--ub-placement",
        choices=("spread", "pinned"),
        default="spread",
        help="spread: any node serves any auction (a cluster); pinned: each auction on "
        "the node that created it",
    )
    add("--ub-auction", default="", help="join this auction instead of creating one")
    add(
        "--ub-profile",
        default="",
        help="plan many auctions from a load profile (bundled: prozorro-day, formats; or a "
        "file); without it, one open auction",
    )
    add(
        "--ub-compression",
        type=float,
        default=0.0,
        help="time runs this many times faster than the profile's day (0: the profile's)",
    )
    add("--ub-scale", type=float, default=1.0, help="multiply the profile's auction counts")
    add(
        "--ub-seed",
        type=int,
        default=-1,
        help="seed of the plan and the bidders (-1: the profile's)",
    )
    add(
        "--ub-slo",
        default="",
        help='pass/fail thresholds, e.g. "ack_p99<=5ms,deliver_p99<=50ms,errors=0": they '
        "decide the exit status",
    )
    add(
        "--ub-chaos",
        default="",
        help="kill nodes during the test: kill, or at=20s,every=15s,kills=3 (docs/loadtesting.md)",
    )
    add(
        "--ub-report",
        default="",
        help="also write the Underbid report here: report.html, summary.md, figures.json, plots",
    )
    add(
        "--ub-reconnect-timeout",
        type=float,
        default=30.0,
        help="seconds a dropped connection tries the nodes before it gives up",
    )
    add(
        "--ub-bidders",
        type=int,
        default=100,
        help="bidders of the created open auction (each may hold 3 connections)",
    )
    add("--ub-duration", type=int, default=3600, help="seconds the created open auction runs")
    add(
        "--ub-against",
        choices=("best", "own"),
        default="best",
        help="created open auction: bids improve on the best bid (contention) or one's own",
    )
    add("--ub-bid-rate", type=float, default=1.0, help="open auction: bids/s per bidder user")
    add(
        "--ub-strategy",
        choices=STRATEGIES,
        default="undercut",
        help="open auction: undercut, the largest allowed amount; random, 0-9 decrements below",
    )
    add("--ub-timeout", type=float, default=10.0, help="seconds to wait for an answer")
    add(
        "--ub-rejections-fail",
        action="store_true",
        default=False,
        help="count engine rejections (step_too_small...) as failures",
    )
    # Set by the master (or the only process) when the test starts; they travel to the workers.
    for hidden in ("--ub-run", "--ub-t0", "--ub-profile-text"):
        add(hidden, default="", help=argparse.SUPPRESS, include_in_web_ui=False)


def opt(environment: Environment, name: str) -> Any:
    options = environment.parsed_options
    if options is None:
        raise RuntimeError("the Underbid users need Locust's command-line options")
    return getattr(options, name)


def set_opt(environment: Environment, name: str, value: Any) -> None:
    assert environment.parsed_options is not None
    setattr(environment.parsed_options, name, value)


__all__ = ["STRATEGIES", "opt", "set_opt"]
