"""Real Redis deployments for the tests: a Sentinel-watched primary with its
replicas, and a six-node Redis Cluster (three primaries, three replicas).

Everything runs on 127.0.0.1 on free ports, in temporary directories, from
the system's binaries (tests/redis_server.py finds them; under CI a missing
one fails the test). Start-up waits on conditions (replicas linked, sentinels
that see each other and the replicas, every node of the Cluster agreeing that
it is ``ok``), each bounded, never a fixed sleep. :meth:`close` kills every
process started, whatever happened.

The failure timings are set short, so that a failover test takes seconds:
sentinels judge a primary down after :data:`DOWN_AFTER_MS`; Cluster nodes
after :data:`NODE_TIMEOUT_MS`.
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import redis

from tests.redis_server import (
    RedisServer,
    find_binary,
    free_cluster_port,
    free_port,
    require_binary,
)

T = TypeVar("T")

MASTER = "underbid"
"""The name the sentinels know the primary by."""
DOWN_AFTER_MS = 1_000
"""Sentinel: how long a primary may be silent before it is judged down."""
NODE_TIMEOUT_MS = 1_000
"""Cluster: how long a node may be silent before it is judged failing."""
READY_S = 60.0
"""Bound on every wait for a deployment to settle."""


def wait_for(what: str, probe: Callable[[], T | None], bound_s: float = READY_S) -> T:
    """Call ``probe`` until it returns something truthy (errors count as not yet)."""
    deadline = time.monotonic() + bound_s
    last: Exception | None = None
    while True:
        try:
            result = probe()
            if result:
                return result
        except (redis.RedisError, OSError) as exc:
            last = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what} (last error: {last!r})")
        time.sleep(0.02)  # bounded polling of real processes


def admin(port: int) -> redis.Redis:
    """A short-lived synchronous client for setting up and inspecting."""
    return redis.Redis(port=port, socket_timeout=2, socket_connect_timeout=2)


def _info(port: int, section: str) -> dict[str, Any]:
    with admin(port) as client:
        info: dict[str, Any] = client.info(section)
        return info


# ------------------------------------------------------------------ Sentinel
class SentinelProcess:
    """One ``redis-sentinel`` on a free port with its own config file."""

    def __init__(self, binary: str, directory: Path, primary_port: int, quorum: int) -> None:
        self.port = free_port()
        self.dir = directory
        self.config = directory / f"sentinel-{self.port}.conf"
        self.config.write_text(
            "\n".join(
                [
                    f"port {self.port}",
                    "bind 127.0.0.1",
                    "daemonize no",
                    f"dir {directory}",
                    f"logfile {directory / f'sentinel-{self.port}.log'}",
                    f"sentinel monitor {MASTER} 127.0.0.1 {primary_port} {quorum}",
                    f"sentinel down-after-milliseconds {MASTER} {DOWN_AFTER_MS}",
                    f"sentinel failover-timeout {MASTER} 5000",
                    f"sentinel parallel-syncs {MASTER} 1",
                    "",
                ]
            )
        )
        argv = [binary, str(self.config)]
        if not binary.endswith("sentinel"):
            argv.append("--sentinel")
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def master(self) -> dict[str, Any]:
        with admin(self.port) as client:
            state: dict[str, Any] = client.sentinel_master(MASTER)
            return state

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=5)


class SentinelDeployment:
    """A primary, ``replicas`` replicas and three sentinels (quorum two)."""

    def __init__(self, replicas: int = 2) -> None:
        binary = require_binary("redis-server", "redis-server")
        sentinel_binary = find_binary("redis-sentinel") or binary
        self._tmp = tempfile.TemporaryDirectory(prefix="underbid-sentinel-")
        self.dir = Path(self._tmp.name)
        self.servers: list[RedisServer] = []
        """Every redis-server started (the first is the initial primary)."""
        self.sentinels: list[SentinelProcess] = []
        try:
            primary = RedisServer(binary)
            self.servers.append(primary)
            primary.start()
            for _ in range(replicas):
                replica = RedisServer(
                    binary, extra_args=["--replicaof", "127.0.0.1", str(primary.port)]
                )
                self.servers.append(replica)
                replica.start()
            self.wait_replicated(primary, replicas)
            for _ in range(3):
                self.sentinels.append(
                    SentinelProcess(sentinel_binary, self.dir, primary.port, quorum=2)
                )
            self.wait_watched(replicas)
        except BaseException:
            self.close()
            raise

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{MASTER}"

    def primary(self) -> RedisServer:
        """The server the sentinels name as the primary now."""
        for sentinel in self.sentinels:
            if sentinel.process.poll() is None:
                with contextlib.suppress(redis.RedisError, OSError):
                    port = int(sentinel.master()["port"])
                    return next(s for s in self.servers if s.port == port)
        raise AssertionError("no sentinel answers")

    @staticmethod
    def wait_replicated(primary: RedisServer, replicas: int) -> None:
        def linked() -> bool:
            info = _info(primary.port, "replication")
            online = [
                v
                for k, v in info.items()
                if k.startswith("slave") and isinstance(v, dict) and v.get("state") == "online"
            ]
            return info.get("role") == "master" and len(online) >= replicas

        wait_for(f"{replicas} replicas online at :{primary.port}", linked)

    def wait_watched(self, replicas: int) -> None:
        """Every sentinel sees the primary, the replicas and the other sentinels."""

        def watched() -> bool:
            for sentinel in self.sentinels:
                state = sentinel.master()
                if (
                    int(state["num-other-sentinels"]) < len(self.sentinels) - 1
                    or int(state["num-slaves"]) < replicas
                    or state["is_sdown"]
                    or state["is_odown"]
                ):
                    return False
            return True

        wait_for("the sentinels to watch the deployment", watched)

    def wait_failover(self, old: RedisServer) -> RedisServer:
        """Wait until every live sentinel names another primary, and it says it is one."""

        def promoted() -> RedisServer | None:
            ports = {int(s.master()["port"]) for s in self.sentinels if s.process.poll() is None}
            if len(ports) != 1 or old.port in ports:
                return None
            new = next(s for s in self.servers if s.port in ports)
            return new if _info(new.port, "replication")["role"] == "master" else None

        return wait_for("the sentinels to promote a replica", promoted)

    def close(self) -> None:
        for sentinel in self.sentinels:
            with contextlib.suppress(Exception):
                sentinel.kill()
        for server in self.servers:
            with contextlib.suppress(Exception):
                server.kill()
                server.close()
        self._tmp.cleanup()


# ------------------------------------------------------------------- Cluster
class ClusterDeployment:
    """Six cluster-enabled servers joined by ``redis-cli --cluster create
    ... --cluster-replicas 1``: three primaries, each with one replica."""

    def __init__(self, nodes: int = 6) -> None:
        binary = require_binary("redis-server", "redis-server")
        cli = require_binary("redis-cli", "redis-tools")
        self.servers: list[RedisServer] = []
        try:
            for _ in range(nodes):
                server = RedisServer(
                    binary,
                    port=free_cluster_port(),
                    extra_args=[
                        "--cluster-enabled",
                        "yes",
                        "--cluster-node-timeout",
                        str(NODE_TIMEOUT_MS),
                    ],
                )
                self.servers.append(server)
                server.start()
            argv = [cli, "--cluster", "create"]
            argv += [f"127.0.0.1:{s.port}" for s in self.servers]
            argv += ["--cluster-replicas", "1", "--cluster-yes"]
            created = subprocess.run(
                argv, capture_output=True, text=True, timeout=READY_S, check=False
            )
            if created.returncode != 0:
                raise RuntimeError(f"redis-cli --cluster create failed:\n{created.stdout}")
            self.wait_ok()
        except BaseException:
            self.close()
            raise

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.servers[:3])
        return f"redis+cluster://{hosts}"

    def live(self) -> list[RedisServer]:
        return [s for s in self.servers if s.running]

    def wait_ok(self) -> None:
        """Every live node says ``cluster_state:ok`` and every replica is linked."""

        def settled() -> bool:
            for server in self.live():
                with admin(server.port) as client:
                    info = client.cluster("info")
                    if info.get("cluster_state") != "ok":
                        return False
                replication = _info(server.port, "replication")
                if replication["role"] == "slave" and replication.get("master_link_status") != "up":
                    return False
            return True

        wait_for("the cluster to settle", settled)

    def primary_of(self, key: str) -> RedisServer:
        """The server whose slots hold ``key`` now."""
        slot = redis.crc.key_slot(key.encode())
        for server in self.live():
            with admin(server.port) as client:
                for start, end, primary, *_ in client.execute_command("CLUSTER", "SLOTS"):
                    if start <= slot <= end:
                        port = int(primary[1])
                        return next(s for s in self.servers if s.port == port)
        raise AssertionError(f"no node serves slot {slot}")

    def replica_of(self, primary: RedisServer) -> RedisServer:
        for server in self.live():
            replication = _info(server.port, "replication")
            if replication["role"] == "slave" and int(replication["master_port"]) == primary.port:
                return server
        raise AssertionError(f"no replica of :{primary.port}")

    def wait_failover(self, old: RedisServer, key: str) -> RedisServer:
        """Wait until another node serves ``key``'s slot and calls itself a primary."""

        def promoted() -> RedisServer | None:
            new = self.primary_of(key)
            if new is old:
                return None
            return new if _info(new.port, "replication")["role"] == "master" else None

        return wait_for("a replica to take over the slot", promoted)

    def close(self) -> None:
        for server in self.servers:
            with contextlib.suppress(Exception):
                server.kill()
                server.close()
