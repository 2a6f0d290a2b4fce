"""Real ``underbid serve`` nodes of one cluster on one real Redis, for the tests.

Each node is its own process on its own 127.0.0.1 free port, all pointed at
one ``redis-server`` (tests/redis_server.py) and sharing one token secret and
one signing key, as the machines of a deployment would. A node can be killed
(SIGKILL: nothing handed over, nobody told), stopped (SIGTERM: it hands its
auctions over) and started again on the same port. Nothing here sleeps on a
fixed delay: starts wait for ``/readyz`` with a bound.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from auction.transparency.keys import Window, write_key_pair
from gateway.tokens import issue_token

SECRET = "cluster-test-secret-0123456789abcdef-012345"
START_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Node:
    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class Cluster:
    redis_url: str
    size: int
    env: dict[str, str] = field(default_factory=dict)
    nodes: list[Node] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="underbid-cluster-")
        key = os.path.join(self._dir.name, "key.json")
        write_key_pair(key, "underbid", Window())
        self._env = {
            **os.environ,
            "UNDERBID_SECURITY_TOKEN_SECRET": SECRET,
            "UNDERBID_RECORD_KEYS": key,
            "UNDERBID_JOURNAL_REDIS_URL": self.redis_url,
            **self.env,
        }
        self.nodes = [
            Node(free_port(), Path(self._dir.name) / f"node-{i}.log") for i in range(self.size)
        ]

    # -- processes -------------------------------------------------------------
    def start(self, i: int, *, wait: bool = True) -> None:
        node = self.nodes[i]
        assert not node.running, f"node {i} is running"
        with open(node.log, "ab") as log:
            node.process = subprocess.Popen(
                [sys.executable, "-m", "auction.cli", "serve", "--port", str(node.port)],
                env=self._env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        node.started_at = time.monotonic()
        if wait:
            self.wait_ready(i)

    def wait_ready(self, i: int) -> None:
        node = self.nodes[i]
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                if httpx.get(f"{node.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if not node.running or time.monotonic() > deadline:
                raise AssertionError(f"node {i} did not get ready:\n{self.tail(i)}")
            time.sleep(0.02)  # polling a real process's start-up

    def start_all(self) -> None:
        for i in range(self.size):
            self.start(i, wait=False)
        for i in range(self.size):
            self.wait_ready(i)

    def kill(self, i: int) -> None:
        """SIGKILL: as a crash (or a pulled cable) would."""
        process = self.nodes[i].process
        assert process is not None
        process.kill()
        process.wait()

    def stop(self, i: int, timeout: float = 30.0) -> int:
        """SIGTERM: the node hands its auctions over, tells its clients 1001, exits."""
        process = self.nodes[i].process
        assert process is not None
        process.send_signal(signal.SIGTERM)
        return process.wait(timeout=timeout)

    def close(self) -> None:
        for node in self.nodes:
            if node.running and node.process is not None:
                node.process.kill()
                node.process.wait()
        self._dir.cleanup()

    def tail(self, i: int, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.nodes[i].log.read_text(errors="replace").splitlines()[-lines:])
        return ""

    # -- talking to it ---------------------------------------------------------
    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    def token(self, auction: str = "*", role: str = "official", bidder: str | None = None) -> str:
        now = int(time.time() * 1000)
        return issue_token(
            SECRET.encode(),
            auction=auction,
            role=role,  # type: ignore[arg-type]
            bidder=bidder,
            expires_at=now + 3_600_000,
            now=now,
        )

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"authorization": f"Bearer {token or self.token()}"}
