"""``underbid serve --workers N``: N processes on one port, each a node of the cluster.

The supervisor (this module, in the process the operator started) serves
nothing itself. It starts N workers, each a plain ``underbid serve`` with
``UNDERBID_WORKER`` set to its number, and keeps them running:

- **One port, N sockets.** Each worker binds its own listening socket with
  ``SO_REUSEPORT``, and the kernel spreads new connections over them. With
  ``--port 0`` the supervisor first reserves a free port (a bound socket that
  never listens, itself ``SO_REUSEPORT``) and hands its number to the workers.
- **N nodes.** Each worker is a node of its own (its own node id, its own
  share of the auctions), exactly as if it ran on another machine; they meet
  through Redis, so ``--workers`` needs a Redis journal (the embedded journals
  belong to one process).
- **A dead worker is restarted**, at once the first time and with a back-off
  (doubling, up to 30 s) when it keeps dying within 10 s of its start; its
  auctions are taken over by the others meanwhile.
- **SIGTERM or SIGINT** is passed on to every worker (each hands its auctions
  over and says 1001 to its clients), then the supervisor waits for them.
- **Metrics**: the supervisor gives the workers one ``PROMETHEUS_MULTIPROC_DIR``
  so that a scrape of any worker reports all of them (gateway/metrics.py).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

WORKER_ENV: Final = "UNDERBID_WORKER"
"""Set in each worker to its number (1..N); its absence means "not a worker"."""
RESTART_MIN_S: Final = 1.0
RESTART_MAX_S: Final = 30.0
STABLE_S: Final = 10.0
"""A worker that lived this long is healthy again: its next restart is immediate."""
STOP_GRACE_S: Final = 40.0
"""How long the workers have to hand their auctions over before they are killed."""


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to (host, port) with SO_REUSEPORT, for one worker (not listening yet)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


@dataclass
class _Worker:
    number: int
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    backoff: float = 0.0
    next_start: float = 0.0


class Supervisor:
    """Starts, watches and stops the workers (see the module docstring)."""

    def __init__(self, argv: Sequence[str], workers: int, host: str, port: int) -> None:
        self.argv = list(argv)
        """The worker's command line: ``python -m auction.cli serve ...``."""
        self.workers = [_Worker(i) for i in range(1, workers + 1)]
        self.host = host
        self.port = port
        self._stopping = False
        self._reservation: socket.socket | None = None
        self._metrics_dir = ""
        self._shared: dict[str, str] = {}

    def _spawn(self, worker: _Worker) -> None:
        env = {
            **os.environ,
            **self._shared,
            WORKER_ENV: str(worker.number),
            "PROMETHEUS_MULTIPROC_DIR": self._metrics_dir,
        }
        argv = [*self.argv, "--port", str(self.port)]
        worker.process = subprocess.Popen(argv, env=env)
        worker.started = time.monotonic()
        print(f"underbid: worker {worker.number} started (pid {worker.process.pid})", flush=True)

    def run(self, *, shared: dict[str, str] | None = None) -> int:
        """Serve until SIGTERM/SIGINT; the exit status is 0 after a clean stop.
        ``shared`` adds environment variables every worker gets."""
        self._shared = dict(shared or {})
        if self.port == 0:
            self._reservation = listening_socket(self.host, 0)
            self.port = self._reservation.getsockname()[1]
        self._metrics_dir = tempfile.mkdtemp(prefix="underbid-metrics-")
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        print(
            f"underbid: {len(self.workers)} workers on port {self.port} "
            f"(supervisor pid {os.getpid()}); each is a node of the cluster",
            flush=True,
        )
        try:
            for worker in self.workers:
                self._spawn(worker)
            while not self._stopping:
                self._watch()
                time.sleep(0.2)
            return self._stop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if self._reservation is not None:
                self._reservation.close()
            shutil.rmtree(self._metrics_dir, ignore_errors=True)

    def _on_signal(self, signum: int, frame: object) -> None:
        self._stopping = True

    def _watch(self) -> None:
        now = time.monotonic()
        for worker in self.workers:
            process = worker.process
            if process is not None and process.poll() is None:
                if now - worker.started >= STABLE_S:
                    worker.backoff = 0.0
                continue
            if process is not None:
                print(
                    f"underbid: worker {worker.number} (pid {process.pid}) exited with "
                    f"status {process.returncode}; restarting",
                    file=sys.stderr,
                    flush=True,
                )
                _forget_metrics(self._metrics_dir, process.pid)
                lived = now - worker.started
                worker.backoff = (
                    0.0
                    if lived >= STABLE_S
                    else min(RESTART_MAX_S, max(RESTART_MIN_S, worker.backoff * 2))
                )
                worker.next_start = now + worker.backoff
                worker.process = None
            if now >= worker.next_start:
                self._spawn(worker)

    def _stop(self) -> int:
        running = [w.process for w in self.workers if w.process is not None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        status = 0
        for process in running:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                status = 1
        print("underbid: every worker stopped", flush=True)
        return status


def _forget_metrics(directory: str, pid: int) -> None:
    """A dead worker's gauge files go (its counters stay: they were counted)."""
    with contextlib.suppress(Exception):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]
