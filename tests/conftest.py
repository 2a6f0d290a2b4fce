"""Fixtures shared by every test folder: a real Redis server when a test asks.

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
