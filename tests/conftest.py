"""Fixtures shared by every test folder: real Redis deployments when a test asks.

A single server is fresh for each test (it starts in milliseconds). The
Sentinel deployment and the Cluster take seconds to settle, so each is started
once per session, on first use, for the tests that leave them as they found
them (their own key prefix, no failover); tests that kill a server start their
own (tests/redis_topology.py).

Hypothesis runs without its per-example deadline: a deadline is a timed
assertion, and on a shared 2-core machine (CI included) an example that takes
0.1 ms alone can take 500 ms while other processes run. Slowness is measured
by the benchmarks, not asserted by the tests.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import settings

from tests.redis_server import RedisServer, require_redis_server
from tests.redis_topology import ClusterDeployment, SentinelDeployment

settings.register_profile("underbid", deadline=None)
settings.load_profile("underbid")


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A fresh redis-server per test (it starts in a few ms: no shared state)."""
    server = RedisServer(require_redis_server())
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


@pytest.fixture(scope="session")
def sentinel_deployment() -> Iterator[SentinelDeployment]:
    """A primary, two replicas and three sentinels, shared by the session."""
    deployment = SentinelDeployment(replicas=2)
    try:
        yield deployment
    finally:
        deployment.close()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[ClusterDeployment]:
    """Three primaries and three replicas, shared by the session."""
    cluster = ClusterDeployment()
    try:
        yield cluster
    finally:
        cluster.close()
