"""auction/runtime/loop.py: waiting for a wake-up without losing a cancellation."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from auction.runtime.loop import wait_set

ROOT = Path(__file__).resolve().parents[2]


async def test_a_wake_up_and_a_cancellation_at_once_still_cancel() -> None:
    """The event is set and the waiting task cancelled in the same loop turn (a
    node's stop after its last hand-over woke the timer): the loop must end,
    not take the wake-up and wait again."""
    event = asyncio.Event()
    rounds = 0

    async def loop() -> None:
        nonlocal rounds
        while True:
            rounds += 1
            await wait_set(event, 5.0)
            event.clear()

    task = asyncio.create_task(loop())
    await asyncio.sleep(0.01)
    event.set()
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=1.0)
    assert done and task.cancelled(), f"the loop went on ({rounds} rounds)"


async def test_it_says_whether_the_event_came_or_the_time_ran_out() -> None:
    event = asyncio.Event()
    assert await wait_set(event, 0.01) is False
    asyncio.get_running_loop().call_later(0.01, event.set)
    assert await wait_set(event, 5.0) is True
    assert await wait_set(event, None) is True  # set already: no wait


def test_no_loop_waits_for_an_event_with_wait_for() -> None:
    """``asyncio.wait_for(x.wait(), ...)`` loses a cancellation on Python 3.11
    (CPython gh-86296); loops use :func:`wait_set`."""
    pattern = re.compile(r"wait_for\(\s*[\w.]+\.wait\(\)")
    found = [
        f"{path.relative_to(ROOT)}"
        for part in ("auction", "gateway", "client", "bridge")
        for path in (ROOT / part).rglob("*.py")
        if pattern.search(path.read_text()) and path.name != "loop.py"  # (its docstring)
    ]
    assert not found, found
