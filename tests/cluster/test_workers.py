"""``underbid serve --workers 2``: two nodes on one port, metrics for both from
either, a killed worker restarted, SIGTERM stopping them all."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from auction.cli import main
from tests.cluster.nodes import SECRET, free_port
from tests.gateway.server_fixture import metric
from tests.redis_server import RedisServer


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(c) for c in text.split()]


def _until(condition: object, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)  # polling real processes


def test_two_workers_are_two_nodes_on_one_port(redis_server: RedisServer) -> None:
    port = free_port()
    env = {**os.environ, "UNDERBID_SECURITY_TOKEN_SECRET": SECRET}
    with tempfile.TemporaryFile() as log:
        supervisor = subprocess.Popen(
            [sys.executable, "-m", "auction.cli", "serve", "--workers", "2",
             "--redis", redis_server.url, "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:

            def nodes_seen() -> set[str]:
                seen = set()
                for _ in range(20):  # the kernel spreads connections: ask a few times
                    with contextlib.suppress(httpx.HTTPError):
                        seen.add(httpx.get(f"{url}/readyz", timeout=1).json().get("node", ""))
                return seen - {""}

            _until(lambda: len(nodes_seen()) == 2, "both workers to answer")
            text = httpx.get(f"{url}/metrics").text
            # Any worker's scrape reports both (multiprocess mode).
            assert metric(text, "underbid_live_nodes") is not None
            _until(
                lambda: len({s for s in httpx.get(f"{url}/metrics").text.splitlines()
                             if s.startswith("underbid_eligible{")}) == 2,
                "both workers' gauges in one scrape",
            )  # fmt: skip
            first = _children(supervisor.pid)
            assert len(first) == 2
            os.kill(first[0], signal.SIGKILL)
            _until(
                lambda: len(_children(supervisor.pid)) == 2 and _children(supervisor.pid) != first,
                "the killed worker to be restarted",
            )
            _until(lambda: len(nodes_seen()) == 2, "the restarted worker to serve")
        finally:
            supervisor.send_signal(signal.SIGTERM)
            status = supervisor.wait(timeout=60)
            log.seek(0)
            output = log.read().decode(errors="replace")
    assert status == 0, output
    assert "every worker stopped" in output


def test_workers_need_a_redis_journal(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--workers", "2"]) == 2
    assert "--workers 2 needs a Redis journal" in capsys.readouterr().err
