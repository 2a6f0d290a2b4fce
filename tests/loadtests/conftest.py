"""Fixtures of the load-test tests: a real gateway on 127.0.0.1 (see tests/gateway)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.gateway.server_fixture import LiveServer, live_server


@pytest.fixture
async def server() -> AsyncIterator[LiveServer]:
    """A gateway with the embedded journal and default limits."""
    async with live_server() as live:
        yield live
