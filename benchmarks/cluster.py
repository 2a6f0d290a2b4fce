"""The cluster's costs, each beside the single node's in the same run.

    python -m benchmarks.cluster [--watchers 1000] [--seconds 10] [--kills 20]

A private ``redis-server`` (appendfsync everysec) and real ``underbid serve``
processes on this machine; the load from ``underbid swarm`` in its own process
(open loop: bids at a fixed rate, watchers timing each delivery). The
sections:

- **fan-out on another node**: bid -> last of ``--watchers`` watchers, p50 and
  p99 at 20 and 50 bids/s, with bidders and watchers on a node that owns
  nothing (every bid forwarded, every event from its replica), beside the same
  load on the owner itself, each run at least 1,000 bids long. Target: p99 at
  most the single node's + 3 ms.
- **forwarded acknowledgements** at 1,000 bids/s: bid -> ack p50/p99 through
  the follower, beside the owner. Target: p99 <= 5 ms. Then the floor under
  it: the owner's own run again with a bare relay through Redis beside it
  (:mod:`benchmarks.relay`, no Underbid: the three Redis hops of a forward,
  beside what forwarding adds to the owner's own ack; the owner's ack with the
  relay beside it, beside the owner's alone; and the two hops that are the
  least any forward through Redis takes, beside the same relay idle).
- **CPU per delivery** (server process CPU time / deliveries) on the follower
  beside the owner's for the same load. Target: <= 1.2 x.
- **--workers 2 against --workers 1**: deliveries/s with the bidders and
  watchers spread over the workers (the kernel spreads connections), at a
  rate the machine can carry, and CPU per delivery.
- **takeover**: ``--kills`` times, the owner of an auction killed with SIGKILL
  while a bidder bids through another node; the time from the kill to the
  first acknowledgement after it. Target: p99 <= 2 s.

A 2-core machine runs the servers, Redis and the load generator on the same
two cores, so these figures are about costs and ratios, not capacity; the
docs (docs/benchmarks.md) say what they predict for more cores and machines.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import json
import math
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from benchmarks import relay

SECRET = "benchmark-cluster-secret-0123456789abcdef-0123"
MIN_BIDS = 1_000
"""Each fan-out run lasts for at least this many bids, so that its p99 is the
tenth-worst delivery, not the second (20 bids/s for 10 s was 200)."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (and of its children, for --workers)."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for each in [pid, *_children(pid)]:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def _children(pid: int) -> list[int]:
    with contextlib.suppress(OSError):
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        return [int(c) for c in text.split()]
    return []


@contextlib.contextmanager
def _redis() -> Iterator[str]:
    binary = shutil.which("redis-server", path="/usr/bin:/usr/local/bin") or shutil.which(
        "redis-server"
    )
    if binary is None:
        raise SystemExit("no redis-server: apt-get install redis-server")
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="underbid-bench-redis-") as directory:
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", directory,
             "--appendonly", "yes", "--appendfsync", "everysec", "--save", ""],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            _wait(lambda: _redis_up(port), "redis-server")
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.kill()
            process.wait()


def _redis_up(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2) as c:
        c.sendall(b"PING\r\n")
        return c.recv(16).startswith(b"+PONG")
    return False


def _wait(ok: Any, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not ok():
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} did not start")
        time.sleep(0.05)


@dataclass
class Node:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _serve(redis_url: str, *, workers: int = 1, may_own: bool = True, port: int = 0) -> Node:
    port = port or _free_port()
    env = {
        **os.environ,
        "UNDERBID_SECURITY_TOKEN_SECRET": SECRET,
        "UNDERBID_JOURNAL_REDIS_URL": redis_url,
        "UNDERBID_CLUSTER_MAY_OWN": "true" if may_own else "false",
        "UNDERBID_LIMITS_MESSAGES_PER_SECOND": "100000",
        "UNDERBID_LIMITS_BURST": "100000",
    }
    argv = [sys.executable, "-m", "auction.cli", "serve", "--port", str(port)]
    if workers > 1:
        argv += ["--workers", str(workers)]
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    node = Node(port, process)
    _wait(lambda: _ready(node.url), f"node on {port}")
    return node


def _node_id(url: str) -> str:
    """The node id a ready node says it has (waiting for it to be ready)."""
    deadline = time.monotonic() + 30
    while True:
        with contextlib.suppress(httpx.HTTPError):
            answer = httpx.get(f"{url}/readyz", timeout=2).json()
            if "node" in answer:
                node: str = answer["node"]
                return node
        if time.monotonic() > deadline:
            raise SystemExit(f"{url} never got ready")
        time.sleep(0.05)


def _ready(url: str) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(f"{url}/readyz", timeout=1).status_code == 200
    return False


def _stop(node: Node) -> None:
    node.process.send_signal(signal.SIGTERM)
    try:
        node.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        node.process.kill()
        node.process.wait()


def _operator() -> str:
    from gateway.tokens import issue_token

    now = int(time.time() * 1000)
    return issue_token(
        SECRET.encode(), auction="*", role="official", bidder=None,
        expires_at=now + 7_200_000, now=now,
    )  # fmt: skip


def _swarm(
    url: str, auction: str, *, watchers: int, bidders: int, rate: float, seconds: float
) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        argv = [
            sys.executable, "-m", "auction.cli", "swarm", "--url", url, "--token", _operator(),
            "--auction", auction, "--watchers", str(watchers), "--bidders", str(bidders),
            "--rate", str(rate), "--duration", str(seconds), "--json", out.name,
        ]  # fmt: skip
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        figures: dict[str, Any] = json.loads(Path(out.name).read_text())
        return figures


def _create(url: str, auction: str, bidders: int) -> None:
    from client.swarm import swarm_spec

    spec = swarm_spec(auction, bidders, int(time.time() * 1000))
    answer = httpx.post(
        f"{url}/api/auctions", json=spec, headers={"authorization": f"Bearer {_operator()}"}
    )
    if answer.status_code != 201:
        raise SystemExit(f"cannot create {auction}: {answer.text}")
    _wait(lambda: _owned(url, auction), f"an owner for {auction}")


def _owned(url: str, auction: str) -> bool:
    listed = httpx.get(f"{url}/api/auctions", headers={"authorization": f"Bearer {_operator()}"})
    return any(a["id"] == auction and a.get("owner") for a in listed.json()["auctions"])


def _row(
    name: str, value: float | None, unit: str, baseline: str, base: float | None, target: str = ""
) -> dict[str, Any]:
    ratio = value / base if value is not None and base else None
    print(
        f"  {name}: {value if value is None else round(value, 3)} {unit} "
        f"(baseline {baseline}: {base if base is None else round(base, 3)})",
        file=sys.stderr,
    )
    return {
        "name": name, "value": value, "unit": unit, "baseline": baseline,
        "baseline_value": base, "ratio": ratio, "target": target,
    }  # fmt: skip


# ------------------------------------------------------------------ phases
def fanout(redis_url: str, watchers: int, seconds: float) -> list[dict[str, Any]]:
    """Watchers and bidders on a node that owns nothing, beside the owner."""
    owner = _serve(redis_url)
    follower = _serve(redis_url, may_own=False)
    rows: list[dict[str, Any]] = []
    try:
        for rate in (20.0, 50.0):
            runs = {}
            cpu = {}
            for where, node in (("owner", owner), ("follower", follower)):
                auction = f"fanout-{where}-{int(rate)}"
                _create(owner.url, auction, 10)
                before = _cpu_s(node.process.pid)
                runs[where] = _swarm(
                    node.url, auction, watchers=watchers, bidders=10, rate=rate,
                    seconds=max(seconds, MIN_BIDS / rate),
                )  # fmt: skip
                cpu[where] = (_cpu_s(node.process.pid) - before) / max(1, runs[where]["events"])
            for q in ("p50", "p99"):
                rows.append(
                    _row(
                        f"bid → last of {watchers:,} watchers {q}, on a follower, {rate:g} bids/s",
                        runs["follower"]["bid_to_last_watcher"][f"{q}_ms"], "ms",
                        "the same on the owner", runs["owner"]["bid_to_last_watcher"][f"{q}_ms"],
                        "≤ owner + 3 ms" if q == "p99" else "",
                    )
                )  # fmt: skip
            rows.append(
                _row(
                    f"server CPU per delivery on the follower, {rate:g} bids/s",
                    cpu["follower"] * 1e6, "µs", "the owner's", cpu["owner"] * 1e6, "≤ 1.2 x",
                )
            )  # fmt: skip
        auction = "forward-acks"
        _create(owner.url, auction, 20)
        forwarded = _swarm(
            follower.url, auction, watchers=10, bidders=20, rate=1000, seconds=seconds
        )
        _create(owner.url, "direct-acks", 20)
        direct = _swarm(
            owner.url, "direct-acks", watchers=10, bidders=20, rate=1000, seconds=seconds
        )
        # The floor: the same load on the owner, and beside it a bare relay of
        # 1,000 commands/s through Redis (no Underbid): the three hops of a
        # forward (inbox, journal, answer), then the least any forward through
        # Redis takes (inbox and journal, the sender reading the journal).
        beside: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}
        for hops in (3, 2):
            auction = f"relayed-acks-{hops}"
            _create(owner.url, auction, 20)
            with concurrent.futures.ThreadPoolExecutor(1) as pool:
                floor = pool.submit(relay.run, redis_url, rate=1000, seconds=seconds, hops=hops)
                acks = _swarm(
                    owner.url, auction, watchers=10, bidders=20, rate=1000, seconds=seconds
                )
                beside[hops] = (floor.result(), acks)
        idle = relay.run(redis_url, rate=1000, seconds=seconds, hops=2)
        for q in ("p50", "p99"):
            rows.append(
                _row(
                    f"ack {q} of a bid forwarded through a follower, 1,000 bids/s",
                    forwarded["ack"][f"{q}_ms"], "ms", "the owner's own", direct["ack"][f"{q}_ms"],
                    "≤ 5 ms" if q == "p99" else "",
                )
            )  # fmt: skip
        bare, with_relay = beside[3]
        for q in ("p50", "p99"):
            rows.append(
                _row(
                    f"forwarding's cost, {q}: forwarded ack {q} − the owner's own",
                    forwarded["ack"][f"{q}_ms"] - direct["ack"][f"{q}_ms"], "ms",
                    f"a bare relay through Redis (inbox, journal, answer; no Underbid), {q}, "
                    "beside the owner's own run",
                    bare[f"{q}_ms"],
                )
            )  # fmt: skip
        rows.append(
            _row(
                "the owner's own ack p99 with that bare relay running beside it",
                with_relay["ack"]["p99_ms"], "ms", "the owner's own alone",
                direct["ack"]["p99_ms"],
            )
        )  # fmt: skip
        rows.append(
            _row(
                "a bare two-hop relay through Redis (inbox, journal: the least a forward "
                "takes), p99, beside the owner's own run",
                beside[2][0]["p99_ms"], "ms", "the same relay on the idle machine",
                idle["p99_ms"],
            )
        )  # fmt: skip
    finally:
        _stop(follower)
        _stop(owner)
    return rows


def workers(redis_url: str, watchers: int, seconds: float) -> list[dict[str, Any]]:
    rows = []
    figures = {}
    for count in (1, 2):
        node = _serve(redis_url, workers=count)
        try:
            auction = f"workers-{count}"
            _create(node.url, auction, 10)
            before = _cpu_s(node.process.pid)
            run = _swarm(
                node.url, auction, watchers=watchers, bidders=10, rate=100, seconds=seconds
            )
            cpu = _cpu_s(node.process.pid) - before
            figures[count] = (run["events"] / seconds, cpu / max(1, run["events"]), run)
        finally:
            _stop(node)
    rows.append(
        _row(
            "deliveries/s, --workers 2, 100 bids/s",
            figures[2][0],
            "/s",
            "--workers 1",
            figures[1][0],
        )
    )
    rows.append(
        _row(
            "server CPU per delivery, --workers 2",
            figures[2][1] * 1e6,
            "µs",
            "--workers 1",
            figures[1][1] * 1e6,
        )
    )
    return rows


async def _takeover_once(urls: Sequence[str], auction: str, victim: Node) -> float | None:
    from client import AuctionClient
    from gateway.tokens import issue_token

    now = int(time.time() * 1000)
    token = issue_token(
        SECRET.encode(), auction=auction, role="bidder", bidder="b0",
        expires_at=now + 600_000, now=now,
    )  # fmt: skip
    others = [u for u in urls if u != victim.url]
    client = AuctionClient(
        others[0], auction, token=token, also=others[1:], max_backoff_s=0.2, buffer_events=False
    )
    await client.connect()
    try:
        amount = (client.view or {}).get("lots", [{}])[0].get("you", {}).get("max_bid") or 10**9
        k = 0
        victim.process.kill()
        killed = time.monotonic()
        while time.monotonic() - killed < 15:
            result = await client.bid(amount - k, bid_id=f"t-{killed}-{k}", timeout=10)
            k += 1
            if result.ok:
                return time.monotonic() - killed
            await asyncio.sleep(0.01)
        return None
    finally:
        await client.close()


def _settled_owner(nodes: Sequence[Node], auction: str) -> str:
    """The owner of ``auction`` once it is the one the assignment names (a new
    auction is owned by the node it was created on, then handed to its own)."""
    from auction.runtime.assign import assign

    live = [_node_id(n.url) for n in nodes]
    deadline = time.monotonic() + 30
    while True:
        listed = httpx.get(
            f"{nodes[0].url}/api/auctions", headers={"authorization": f"Bearer {_operator()}"}
        ).json()["auctions"]
        active = [a["id"] for a in listed if a["state"] in ("running", "paused")]
        owner = next(a.get("owner") for a in listed if a["id"] == auction)
        if owner and owner == assign(active, live).get(auction):
            return str(owner)
        if time.monotonic() > deadline:
            raise SystemExit(f"{auction} never settled on its owner")
        time.sleep(0.05)


def takeover(redis_url: str, kills: int) -> list[dict[str, Any]]:
    nodes = [_serve(redis_url) for _ in range(3)]
    times: list[float] = []
    try:
        for k in range(kills):
            auction = f"takeover-{k}"
            _create(nodes[0].url, auction, 2)
            owner_id = _settled_owner(nodes, auction)
            victim = next(n for n in nodes if _node_id(n.url) == owner_id)
            took = asyncio.run(_takeover_once([n.url for n in nodes], auction, victim))
            victim.process.wait()
            index = nodes.index(victim)
            nodes[index] = _serve(redis_url, port=victim.port)
            if took is not None:
                times.append(took)
            print(f"  kill {k + 1}: acknowledged again after {took} s", file=sys.stderr)
    finally:
        for node in nodes:
            _stop(node)
    times.sort()

    def pick(q: float) -> float | None:
        if not times:
            return None
        return times[min(len(times) - 1, max(0, math.ceil(q * len(times)) - 1))]

    rows = []
    for label, q in (("p50", 0.5), ("p99", 0.99), ("max", 1.0)):
        value = pick(q)
        rows.append(
            _row(
                f"takeover after kill -9 of the owner, {label} over {len(times)} kills",
                value * 1000 if value is not None else None,
                "ms",
                "the node lifetime (cluster.node_ttl_ms)",
                1000.0,
                "p99 ≤ 2,000 ms" if label == "p99" else "",
            )
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--watchers", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds of bidding per run")
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--only", default="fanout,workers,takeover")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON rows")
    args = parser.parse_args(argv)
    print(
        f"cluster benchmark: Python {platform.python_version()}, load {os.getloadavg()}",
        file=sys.stderr,
    )
    chosen = set(args.only.split(","))
    sections = []
    with _redis() as redis_url:
        if "fanout" in chosen:
            sections.append(
                {
                    "title": "A follower against the owner",
                    "rows": fanout(redis_url, args.watchers, args.seconds),
                }
            )
        if "workers" in chosen:
            sections.append(
                {
                    "title": "--workers 2 against --workers 1",
                    "rows": workers(redis_url, args.watchers, args.seconds),
                }
            )
        if "takeover" in chosen:
            sections.append({"title": "Takeover", "rows": takeover(redis_url, args.kills)})
    if args.json:
        doc = {
            "benchmark": "cluster",
            "python": platform.python_version(),
            "settings": vars(args),
            "sections": sections,
        }
        Path(args.json).write_text(json.dumps(doc, indent=2, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
