"""Running the runtime's event loop: uvloop where it is installed."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` to completion on uvloop (asyncio's own loop if uvloop is absent)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return asyncio.run(main)
    return uvloop.run(main)


async def wait_set(event: asyncio.Event, timeout: float | None) -> bool:
    """Wait until ``event`` is set or ``timeout`` seconds pass; True if it was set.

    Loops that wait for a wake-up use this, not ``asyncio.wait_for(event.wait(),
    timeout)``: on Python 3.11 ``wait_for`` returns normally when its task is
    cancelled just as the event is set (the cancellation is lost: CPython
    gh-86296), and a loop built on it then never stops. A cluster node's stop
    hung that way on its deadline timer, woken by the hand-over it had just done.
    """
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return False
    return True
