"""A node killed during a load test (``--chaos``, ``--ub-chaos``) shows in the report as
reconnects, resumed streams and takeover time, never as silent gaps.

Two real nodes of one cluster on one real Redis (tests/cluster/nodes.py), the load
spread over both; the tool itself kills the node that owns the auction (``nodes=owner``:
it asks the cluster), by SIGKILL to the process on its port. The clients on it resume on
the other node, which takes the auction over. What must hold: every kill recorded, the
dropped connections back, bids acknowledged after the kill, a takeover measured, and no
gap and no duplicate in any stream.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

from client.load.chaos import parse_chaos
from client.load.nodes import Nodes
from client.load.slo import evaluate, parse_slo
from client.swarm import Swarm, SwarmConfig
from tests.cluster.nodes import Cluster
from tests.loadtests.locust_run import run_locust
from tests.redis_server import RedisServer


@contextlib.contextmanager
def cluster(redis_server: RedisServer) -> Iterator[Cluster]:
    nodes = Cluster(redis_server.url, 2)
    try:
        nodes.start_all()
        yield nodes
    finally:
        nodes.close()


async def test_the_swarm_reports_a_killed_node(redis_server: RedisServer) -> None:
    with cluster(redis_server) as nodes:
        swarm = Swarm(
            SwarmConfig(
                token=nodes.token(),
                nodes=Nodes(tuple(nodes.urls)),
                watchers=4,
                bidders=2,
                rate=10,
                duration=6,
                drain_s=15,
                progress=False,
                chaos=parse_chaos("at=1.5s,nodes=owner", 2),
            ),
            out=None,
        )
        await swarm.run()
        dead = [n.url for n in nodes.nodes if not n.running]
    run = swarm.run_figures
    (kill,) = run.kills()
    assert kill.ok and [kill.node] == dead and kill.how.startswith("SIGKILL pid ")
    counts = run.counts
    assert counts["reconnects"] >= 1 and counts["reconnect_failures"] == 0
    assert counts["gaps"] == 0 and counts["duplicates"] == 0
    late = [ms for _, _, ms in run.ledger.takeovers()]
    assert late and 0 < max(late) < 15_000  # measured (the cluster's target is 2 s)
    assert swarm.stats.acked > 0
    verdict = evaluate(parse_slo("gaps=0,duplicates=0,takeover_max<=15s"), run.metrics())
    assert verdict.passed, verdict.lines()


async def test_locust_reports_a_killed_node(redis_server: RedisServer, tmp_path: Path) -> None:
    with cluster(redis_server) as nodes:
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
                "at=2s,nodes=owner",
                "--ub-slo",
                "gaps=0,duplicates=0,takeover_max<=15s",
            ],
            token=nodes.token(),
        )
        dead = [n.url for n in nodes.nodes if not n.running]
    assert result.status == 0, result.output[-4000:]
    assert len(dead) == 1 and result.count("chaos", f"kill {dead[0]}") == 1
    assert result.count("reconnect", "watcher") + result.count("reconnect", "bidder") >= 1
    assert re.search(
        r"kill at 2\.\d s of http://127\.0\.0\.1:\d+ \(SIGKILL pid \d+\)", result.output
    )
    assert "takeover max" in result.output
    assert result.count("event", "gap") == 0 and result.count("event", "duplicate") == 0
    assert result.report["counts"].get("reconnect_failures", 0) == 0
