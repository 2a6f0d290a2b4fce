"""A node killed during a load test (``--chaos``, ``--ub-chaos``) shows in the report as
reconnects, resumed streams and takeover time, never as silent gaps.

Two real ``underbid serve --redis`` nodes on one real Redis (tests/loadtests/nodes.py),
the load spread over both; the tool itself kills the node that created (and owns) the
auction, by SIGKILL to the process on its port. The other node takes the auction over
(its writer lease lapses: 800 ms here) and the clients resume there. What must hold,
whoever serves: every kill recorded, the dropped connections back, bids acknowledged
after the kill, a takeover measured, no gap and no duplicate in any stream.
"""

from __future__ import annotations

from pathlib import Path

from client.load.chaos import parse_chaos
from client.load.nodes import Nodes
from client.load.slo import evaluate, parse_slo
from client.swarm import Swarm, SwarmConfig
from tests.loadtests.locust_run import run_locust
from tests.loadtests.nodes import cluster


async def test_the_swarm_reports_a_killed_node() -> None:
    with cluster(2) as nodes:
        swarm = Swarm(
            SwarmConfig(
                token=nodes.operator_token,
                nodes=Nodes(tuple(nodes.urls)),
                watchers=4,
                bidders=2,
                rate=10,
                duration=6,
                drain_s=15,
                progress=False,
                chaos=parse_chaos("at=1.5s,nodes=1", 2),
            ),
            out=None,
        )
        await swarm.run()
        assert not nodes.alive(0) and nodes.alive(1)
    run = swarm.run_figures
    (kill,) = run.kills()
    assert kill.ok and kill.node == nodes.urls[0] and kill.how.startswith("SIGKILL pid ")
    counts = run.counts
    assert counts["reconnects"] >= 1 and counts["reconnect_failures"] == 0
    assert counts["gaps"] == 0 and counts["duplicates"] == 0
    late = [ms for _, _, ms in run.ledger.takeovers()]
    assert late and 0 < max(late) < 15_000
    assert swarm.stats.acked > 0
    verdict = evaluate(parse_slo("gaps=0,duplicates=0,takeover_max<=15s"), run.metrics())
    assert verdict.passed, verdict.lines()


async def test_locust_reports_a_killed_node(tmp_path: Path) -> None:
    with cluster(2) as nodes:
        result = await run_locust(
            tmp_path,
            [
                "--host",
                nodes.urls[0],
                "--ub-nodes",
                ",".join(nodes.urls),
                "-u",
                "4",
                "-r",
                "4",
                "-t",
                "7s",
                "--ub-bid-rate",
                "5",
                "--ub-chaos",
                "at=2s,nodes=1",
                "--ub-slo",
                "gaps=0,duplicates=0,takeover_max<=15s",
            ],
            token=nodes.operator_token,
        )
        assert not nodes.alive(0) and nodes.alive(1)
    assert result.status == 0, result.output[-4000:]
    assert result.count("chaos", f"kill {nodes.urls[0]}") == 1
    assert result.count("reconnect", "watcher") + result.count("reconnect", "bidder") >= 1
    assert "kill at 2.0 s of " in result.output and "takeover max" in result.output
    assert result.count("event", "gap") == 0 and result.count("event", "duplicate") == 0
    assert result.report["counts"].get("reconnect_failures", 0) == 0
