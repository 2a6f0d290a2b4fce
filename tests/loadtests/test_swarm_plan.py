"""``underbid swarm --profile`` (client/load/swarmplan.py) against live servers in this
process: a planned day of every format over two independent servers, and the classic
swarm's verdict against a slowed server. Counts and rules only, no timing."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from auction.cli import _parser, main
from client.load.nodes import Nodes
from client.load.profile import load_profile
from client.load.slo import evaluate, parse_slo
from client.load.swarmplan import PlanConfig, PlanSwarm
from client.swarm import Swarm, SwarmConfig
from tests.gateway.server_fixture import live_server
from tests.loadtests.test_locust import FORMATS, _records, slow_proxy, turns_kept


async def test_a_planned_day_of_every_format_over_two_servers() -> None:
    async with live_server() as a, live_server() as b:
        config = PlanConfig(
            nodes=Nodes((a.base_url, b.base_url), "pinned"),
            token=a.operator_token,
            profile=load_profile("formats"),
            progress=False,
        )
        swarm = PlanSwarm(config)
        figures = await swarm.run()
        on_a, on_b = await _records(a), await _records(b)
    assert swarm.plan is not None
    assert len(on_a) == 3 and len(on_b) == 2  # auction i on node i mod 2
    counts = figures.counts
    for fmt in FORMATS:
        assert counts[f"{fmt}.acks"] > 0, (fmt, dict(counts))
        assert figures.timeline.overall(f"{fmt}.deliver").count > 0
    assert counts["gaps"] == counts["duplicates"] == 0 and counts["deliveries"] > 0
    assert counts["errors"] == figures.missed()  # only windows a slow machine made miss
    assert swarm.stats.seats_done == len(swarm.plan.seats)
    assert swarm.stats.windows_done == len(swarm.plan.windows)
    records = on_a + on_b
    assert all(r["result"]["finished"] for r in records)
    assert sum(turns_kept(r) for r in records) > 0
    assert not [
        ev
        for r in records
        for ev in r["events"]
        if ev["type"] == "command_rejected" and ev["code"] == "not_your_turn"
    ]
    verdict = evaluate(parse_slo("gaps=0,duplicates=0,reconnects=0"), figures.metrics())
    assert verdict.passed, verdict.lines()


async def test_the_classic_swarm_verdict_fails_a_slowed_server() -> None:
    thresholds = parse_slo("ack_p99<=500ms,errors=0")
    async with live_server() as server, slow_proxy(server.port, 1.0) as slow_port:
        verdicts = []
        for url in (server.base_url, f"http://127.0.0.1:{slow_port}"):
            swarm = Swarm(
                SwarmConfig(
                    url=url,
                    token=server.operator_token,
                    watchers=3,
                    bidders=2,
                    rate=20,
                    duration=0.5,
                    drain_s=10,
                    progress=False,
                ),
                out=None,
            )
            await swarm.run()
            assert swarm.stats.acked == 10
            verdicts.append(evaluate(thresholds, swarm.run_figures.metrics()))
    normal, slowed = verdicts
    assert normal.passed, normal.lines()
    assert not slowed.passed and "FAIL ack_p99<=500ms" in slowed.lines()[1]


def test_the_cli_reads_the_planned_options(capsys: pytest.CaptureFixture[str]) -> None:
    args = _parser().parse_args(
        [
            "swarm",
            "--url",
            "http://a:1,http://b:2",
            "--placement",
            "pinned",
            "--profile",
            "formats",
            "--compression",
            "90",
            "--slo",
            "errors=0",
            "--chaos",
            "kill",
        ]
    )
    assert (args.placement, args.profile, args.compression, args.slo, args.chaos) == (
        "pinned",
        "formats",
        90.0,
        "errors=0",
        "kill",
    )
    assert args.seed == -1 and args.scale == 1.0 and not args.plan_only
    assert main(["swarm", "--profile", "formats", "--scale", "2", "--plan-only"]) == 0
    out = capsys.readouterr().out
    assert "auctions: 10 (dutch 2, japanese 2, multilot 2, open 2, rounds 2)" in out
    assert main(["swarm", "--chaos", "boom"]) == 2
    assert "key=value" in capsys.readouterr().err


async def test_the_swarm_command_writes_its_report_and_sets_its_exit_status(
    tmp_path: Path,
) -> None:
    async with live_server() as server:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "auction.cli",
            "swarm",
            "--url",
            server.base_url,
            "--profile",
            "formats",
            "--quiet",
            "--json",
            "-",
            "--report",
            str(tmp_path / "report"),
            "--slo",
            "gaps=0,duplicates=0,ack_p99<=10s",
            env={**os.environ, "UNDERBID_OPERATOR_TOKEN": server.operator_token},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode()[-3000:]
    figures = json.loads(out)
    assert figures["auctions"] == 5 and figures["metrics"]["gaps"] == 0
    assert "SLO verdict: PASS" in err.decode()
    folder = tmp_path / "report"
    assert {p.name for p in folder.iterdir()} >= {
        "report.html",
        "summary.md",
        "figures.json",
        "latency-rounds.png",
        "latency-dutch.png",
    }
    assert (folder / "latency-open.png").read_bytes().startswith(b"\x89PNG")
    assert "SLO verdict: PASS" in (folder / "report.html").read_text(encoding="utf-8")
