"""Fixtures shared by every test folder: a real Redis server when a test asks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.redis_server import RedisServer, require_redis_server


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
