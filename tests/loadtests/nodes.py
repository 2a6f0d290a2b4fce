"""Real ``underbid serve --redis`` nodes on one real Redis, for the chaos tests.

Each node is its own process on a free 127.0.0.1 port, sharing the Redis and
one token secret, as the machines of a deployment would; the load tools kill
them themselves (``--ub-chaos``, ``--chaos``: SIGKILL to the process listening
on the port). Starts wait for ``/readyz`` with a bound, never a fixed sleep.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from gateway.tokens import issue_token
from tests.redis_server import RedisServer, _free_port, require_redis_server

SECRET = "load-chaos-secret-0123456789abcdef-0123456789"
START_TIMEOUT_S = 30.0


@dataclass
class Cluster:
    redis: RedisServer
    ports: list[int]
    processes: list[subprocess.Popen[bytes]]
    logs: list[Path]

    @property
    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{p}" for p in self.ports]

    @property
    def operator_token(self) -> str:
        now = int(time.time() * 1000)
        return issue_token(
            SECRET.encode(),
            auction="*",
            role="official",
            bidder=None,
            expires_at=now + 3_600_000,
            now=now,
        )

    def alive(self, i: int) -> bool:
        return self.processes[i].poll() is None

    def tail(self, i: int) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.logs[i].read_text(errors="replace").splitlines()[-30:])
        return ""


@contextlib.contextmanager
def cluster(size: int, lease_ms: int = 800) -> Iterator[Cluster]:
    """``size`` nodes on one fresh redis-server; everything stopped afterwards."""
    redis = RedisServer(require_redis_server())
    redis.start()
    folder = tempfile.TemporaryDirectory(prefix="underbid-load-nodes-")
    env = {
        **os.environ,
        "UNDERBID_SECURITY_TOKEN_SECRET": SECRET,
        "UNDERBID_JOURNAL_REDIS_URL": redis.url,
        "UNDERBID_JOURNAL_LEASE_MS": str(lease_ms),
    }
    ports = [_free_port() for _ in range(size)]
    logs = [Path(folder.name) / f"node-{i}.log" for i in range(size)]
    processes = []
    try:
        for port, log in zip(ports, logs, strict=True):
            with open(log, "wb") as out:
                processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "auction.cli", "serve", "--port", str(port)],
                        env=env,
                        cwd=folder.name,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                )
        nodes = Cluster(redis, ports, processes, logs)
        deadline = time.monotonic() + START_TIMEOUT_S
        for i, url in enumerate(nodes.urls):
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                        break
                if not nodes.alive(i) or time.monotonic() > deadline:
                    raise AssertionError(f"node {i} did not get ready:\n{nodes.tail(i)}")
                time.sleep(0.02)  # polling a real process's start-up
        yield nodes
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.wait()
        redis.close()
        folder.cleanup()
