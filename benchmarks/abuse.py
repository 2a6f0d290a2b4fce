"""What the abuse cases cost now: a ping flood, large views, the largest spec.

    python -m benchmarks.abuse [--connections 50] [--flood-s 5] [--repeat 5]

Three sections, every figure beside a baseline measured in the same run:

- **ping flood**: ``underbid serve`` in its own process; server memory (RSS)
  per connection for connections that flood 125-byte pings and never read,
  beside the same number of idle connections (hello, then nothing). Issue 10
  measured 182 MB -> 969 MB in 28 s for four flooding connections.
- **views**: the view of a live lot of 1,000 and 10,000 bidders, per format
  and role, built by the engine (best of ``--repeat``), beside a bare Python
  loop building the same number of ladder dicts; and the cached read the
  gateway serves for the same seq. Target: well under 50 ms at 10,000.
- **the largest spec**: ``/healthz`` latency (p50/p99/max) while the largest
  allowed spec (10,000 bidders) is created, read five times and welcomed on
  twenty WebSockets, beside ``/healthz`` on the same idle server.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx

from auction.core import Auction, parse_spec
from auction.core.commands import PlaceBid
from auction.core.limits import MAX_AMOUNT, MAX_BIDDERS_PER_LOT
from auction.core.views import auction_view
from gateway.tokens import issue_token

SECRET = "benchmark-secret-0123456789abcdef-0123456789"
PING = bytes([0x89, 0x80 | 125]) + b"\x00\x00\x00\x00" + b"p" * 125


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


@contextmanager
def serve() -> Iterator[tuple[int, int]]:
    """``underbid serve`` on a free port, in its own process: (pid, port)."""
    port = _free_port()
    env = {
        **os.environ,
        "UNDERBID_SERVER_PORT": str(port),
        "UNDERBID_SECURITY_TOKEN_SECRET": SECRET,
    }
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "auction.cli", "serve", "--memory"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"serve did not start: {log.read()[-2000:]!r}")
                time.sleep(0.05)
            yield process.pid, port
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _operator() -> dict[str, str]:
    now = int(time.time() * 1000)
    token = issue_token(
        SECRET.encode(),
        auction="*",
        role="official",
        bidder=None,
        expires_at=now + 3_600_000,
        now=now,
    )
    return {"authorization": f"Bearer {token}"}


def _handshake(port: int, auction_id: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(
        (
            f"GET /ws/auctions/{auction_id} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += sock.recv(1)
    if not answer.startswith(b"HTTP/1.1 101"):
        raise RuntimeError(answer.decode(errors="replace"))
    return sock


# ------------------------------------------------------------ ping flood
def ping_flood(connections: int, flood_s: float) -> list[dict[str, Any]]:
    with serve() as (pid, port):
        spec = _spec("flood", 3)
        httpx.post(f"http://127.0.0.1:{port}/api/auctions", json=spec, headers=_operator())
        before = _rss_kib(pid)
        idle = [_handshake(port, "flood") for _ in range(connections)]
        for sock in idle:  # a hello (masked, empty token) then nothing
            payload = json.dumps({"type": "hello"}).encode()
            sock.sendall(bytes([0x81, 0x80 | len(payload)]) + b"\x00" * 4 + payload)
        time.sleep(1.0)
        idle_kib = (_rss_kib(pid) - before) / connections
        for sock in idle:
            sock.close()
        time.sleep(1.0)
        before = _rss_kib(pid)
        floods = [_handshake(port, "flood") for _ in range(connections)]
        for sock in floods:
            sock.setblocking(False)
        peak = before
        sent = 0
        end = time.monotonic() + flood_s
        while time.monotonic() < end:
            for sock in floods:
                with suppress(OSError):  # BlockingIOError: its buffers are full
                    sent += sock.send(PING * 32)
            peak = max(peak, _rss_kib(pid))
            time.sleep(0.01)
        for sock in floods:
            sock.close()
    flood_kib = (peak - before) / connections
    print(
        f"  ping flood: {flood_kib:.1f} KiB per connection at peak "
        f"({sent / 2**20:.1f} MiB of pings sent) vs {idle_kib:.1f} KiB per idle connection",
        file=sys.stderr,
    )
    return [
        {
            "name": f"server memory per connection, {connections} connections flooding pings "
            f"for {flood_s:g} s without reading",
            "value": flood_kib,
            "unit": "KiB",
            "baseline": "per idle connection, same server",
            "baseline_value": idle_kib,
            "ratio": flood_kib / idle_kib if idle_kib > 0 else None,
            "target": "bounded (was 200,000 KiB)",
        }
    ]


# ----------------------------------------------------------------- views
def _spec(auction_id: str, n: int, fmt: str = "open") -> dict[str, Any]:
    bidders = [
        {"id": f"bidder-{i:05d}", "name": f"Supplier {i} LLC", "amount": MAX_AMOUNT // 2 - i}
        for i in range(n)
    ]
    spec: dict[str, Any] = {
        "id": auction_id,
        "start_at": int(time.time() * 1000),
        "format": fmt,
        "start_value": MAX_AMOUNT // 2,
        "bidders": bidders,
    }
    if fmt == "open":
        spec["open"] = {"duration_s": 600, "decrement": 1}
    elif fmt == "rounds":
        spec["minimal_step"] = 1
        spec["rounds"] = {"rounds": 1}
    elif fmt == "japanese":
        spec["japanese"] = {"step": MAX_AMOUNT // 100}
        for b in bidders:
            del b["amount"]
    return spec


def _best_ms(fn: Callable[[], Any], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - began)
    return best * 1000


def views(sizes: list[int], repeat: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for n in sizes:
        bare = _best_ms(
            lambda n=n: [
                {"rank": i, "label": f"Bidder #{i}", "amount": i, "score": None} for i in range(n)
            ],
            repeat,
        )
        for fmt in ("rounds", "open", "japanese"):
            auction = Auction(parse_spec(_spec(f"view-{fmt}", n, fmt)))
            start = auction.spec.start_at
            auction.advance(start + 400_000 if fmt == "rounds" else start)
            if fmt == "open":
                auction.handle(PlaceBid(bidder="bidder-00007", amount=1, bid_id="x"), start + 1)
            for role, bidder in (("public", None), ("bidder", "bidder-00007"), ("official", None)):
                ms = _best_ms(lambda a=auction, r=role, b=bidder: auction_view(a, r, b), repeat)
                print(
                    f"  view {fmt} {n:,} bidders {role}: {ms:.2f} ms (bare {bare:.2f} ms)",
                    file=sys.stderr,
                )
                rows.append(
                    {
                        "name": f"{fmt}: {role} view of a live lot of {n:,} bidders",
                        "value": ms,
                        "unit": "ms",
                        "baseline": "bare Python loop building as many ladder dicts",
                        "baseline_value": bare,
                        "ratio": ms / bare if bare > 0 else None,
                        "target": "≪ 50 ms" if n >= 10_000 else "",
                    }
                )
    return rows


# ---------------------------------------------------------- largest spec
def _healthz_while(port: int, work: Callable[[], None]) -> list[float]:
    latencies: list[float] = []
    done = threading.Event()

    def poll() -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            while not done.is_set():
                began = time.perf_counter()
                http.get("/healthz")
                latencies.append((time.perf_counter() - began) * 1000)
                time.sleep(0.005)

    thread = threading.Thread(target=poll)
    thread.start()
    try:
        work()
    finally:
        done.set()
        thread.join()
    return latencies


def largest_spec() -> list[dict[str, Any]]:
    with serve() as (_, port):
        base = f"http://127.0.0.1:{port}"
        idle = _healthz_while(port, lambda: time.sleep(2))

        def create_and_read() -> None:
            spec = _spec("largest", MAX_BIDDERS_PER_LOT)
            with httpx.Client(base_url=base, timeout=60) as http:
                answer = http.post("/api/auctions", json=spec, headers=_operator())
                if answer.status_code != 201:
                    raise RuntimeError(answer.text)
                while http.get("/api/auctions/largest").json()["lots"][0]["status"] != "live":
                    time.sleep(0.01)
                for _ in range(5):
                    http.get("/api/auctions/largest")
            sockets = [_handshake(port, "largest") for _ in range(20)]
            for sock in sockets:
                payload = json.dumps({"type": "hello"}).encode()
                sock.sendall(bytes([0x82, 0x80 | len(payload)]) + b"\x00" * 4 + payload)
            for sock in sockets:
                sock.settimeout(30)
                sock.recv(65536)  # the start of its welcome
                sock.close()

        busy = _healthz_while(port, create_and_read)
    rows = []
    for label, pick in (("p50", 0.50), ("p99", 0.99), ("max", 1.0)):
        value = _quantile(busy, pick)
        baseline = _quantile(idle, pick)
        rows.append(
            {
                "name": f"/healthz {label} while the largest spec (10,000 bidders) is created, "
                "read 5 times and welcomed on 20 sockets",
                "value": value,
                "unit": "ms",
                "baseline": "/healthz on the idle server",
                "baseline_value": baseline,
                "ratio": value / baseline if baseline > 0 else None,
                "target": "< 1,000 ms (was 29,000 ms)" if label == "max" else "",
            }
        )
        print(f"  /healthz {label}: {value:.1f} ms (idle {baseline:.1f} ms)", file=sys.stderr)
    return rows


def _quantile(values: list[float], q: float) -> float:
    """Nearest-rank quantile (``q = 1``: the maximum)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--connections", type=int, default=50, help="flooding connections")
    parser.add_argument("--flood-s", type=float, default=5.0, help="seconds of ping flood")
    parser.add_argument("--sizes", default="1000,10000", help="bidders per lot for the views")
    parser.add_argument("--repeat", type=int, default=5, help="view builds per figure (best kept)")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON rows")
    args = parser.parse_args(argv)
    print(f"abuse benchmark: Python {platform.python_version()}", file=sys.stderr)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    sections = [
        {"title": "Ping flood", "rows": ping_flood(args.connections, args.flood_s)},
        {"title": "Views of large lots", "rows": views(sizes, args.repeat)},
        {"title": "The largest allowed spec", "rows": largest_spec()},
    ]
    if args.json:
        doc = {
            "benchmark": "abuse",
            "python": platform.python_version(),
            "settings": vars(args),
            "sections": sections,
        }
        Path(args.json).write_text(json.dumps(doc, indent=2, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
