"""A bare relay through Redis: the least that forwarding a command costs here.

    python -m benchmarks.relay URL [--rate 1000] [--seconds 10] [--json PATH]

No Underbid code: two processes, each on uvloop with redis-py's asyncio client
(hiredis), which is what an Underbid node runs on, doing only the three Redis
hops a forwarded bid takes (docs/operations.md, "Forwarding"):

- the **sender** (a follower) puts commands into the owner's inbox stream, open
  loop at ``--rate``: what fell due in one loop turn in one pipelined XADD, one
  pipeline in flight at a time (the order of commands is kept), and waits on its
  own inbox (XREAD BLOCK) for each answer, timing it from its send;
- the **owner** waits on its inbox (XREAD BLOCK), appends each command to a
  journal stream (one pipelined XADD per batch: the append), and once that has
  returned puts each answer into the sender's inbox (one pipeline).

The benchmark of a cluster (:mod:`benchmarks.cluster`) runs it beside the
owner's own acknowledgements, under the same load, as the floor under the cost
of forwarding: whatever a node adds on top of it is Underbid's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
import uvloop

from client.load.figures import Histogram

PREFIX = "bench-relay"
OWNER_INBOX = f"{PREFIX}:inbox:owner"
SENDER_INBOX = f"{PREFIX}:inbox:sender"
JOURNAL = f"{PREFIX}:journal"


async def _read(
    client: Any, key: str, after: bytes, field: bytes = b"m"
) -> tuple[bytes, list[bytes]]:
    reply = await client.execute_command(
        "XREAD", "COUNT", 10_000, "BLOCK", 500, "STREAMS", key, after
    )
    if not reply:
        return after, []
    ((_, entries),) = reply  # RESP2, as Underbid's clients speak
    return bytes(entries[-1][0]), [fields[field] for _, fields in entries]


async def owner(url: str, seconds: float, hops: int) -> None:
    """Append every command to the journal, then answer it (until ``seconds``
    pass); with ``hops`` 2 it does not answer (the sender reads the journal)."""
    client = aioredis.Redis.from_url(url)
    pending: list[bytes] = []
    wake = asyncio.Event()

    async def write() -> None:
        while True:
            await wake.wait()
            wake.clear()
            batch, pending[:] = list(pending), []
            pipe = client.pipeline(transaction=False)
            for message in batch:
                pipe.execute_command("XADD", JOURNAL, "MAXLEN", "~", 100_000, "*", "e", message)
            await pipe.execute()
            if hops == 2:
                continue
            pipe = client.pipeline(transaction=False)
            for message in batch:
                pipe.execute_command("XADD", SENDER_INBOX, "MAXLEN", "~", 10_000, "*", "m", message)
            await pipe.execute()

    writer = asyncio.get_running_loop().create_task(write())
    after = b"$"
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        after, messages = await _read(client, OWNER_INBOX, after)
        if messages:
            pending.extend(messages)
            wake.set()
    writer.cancel()
    await client.aclose()


async def sender(url: str, rate: float, seconds: float, hops: int) -> dict[str, Any]:
    """Send at ``rate`` for ``seconds``; the time from each send to its answer
    (with ``hops`` 2: to its append, read from the journal stream itself)."""
    client = aioredis.Redis.from_url(url)
    sent: dict[bytes, float] = {}
    latencies = Histogram()  # as the swarm measures the acks it stands beside
    queue: list[bytes] = []
    sending: asyncio.Task[None] | None = None

    async def flush() -> None:
        while queue:
            batch, queue[:] = list(queue), []
            pipe = client.pipeline(transaction=False)
            for message in batch:
                pipe.execute_command("XADD", OWNER_INBOX, "MAXLEN", "~", 10_000, "*", "m", message)
            await pipe.execute()

    async def receive() -> None:
        after = b"$"
        while True:
            if hops == 2:
                after, answers = await _read(client, JOURNAL, after, b"e")
            else:
                after, answers = await _read(client, SENDER_INBOX, after)
            now = time.perf_counter()
            for answer in answers:
                started = sent.pop(answer, None)
                if started is not None:
                    latencies.add((now - started) * 1000)

    receiver = asyncio.get_running_loop().create_task(receive())
    await asyncio.sleep(0.2)  # the reader is blocked on its inbox before the first send
    began = time.perf_counter()
    n = 0
    while (now := time.perf_counter()) - began < seconds:
        due = int((now - began) * rate)
        while n < due:
            message = str(n).encode()
            sent[message] = time.perf_counter()
            queue.append(message)
            n += 1
        if queue and (sending is None or sending.done()):
            sending = asyncio.get_running_loop().create_task(flush())
        await asyncio.sleep(0.0005)
    await asyncio.sleep(0.5)  # the last answers
    receiver.cancel()
    await client.aclose()
    return {**latencies.summary(), "sent": n}


def run(url: str, *, rate: float, seconds: float, hops: int = 3) -> dict[str, Any]:
    """Both sides, each in its own process; the sender's figures."""
    base = [sys.executable, "-m", "benchmarks.relay", url, "--hops", str(hops)]
    side = subprocess.Popen(
        [*base, "--seconds", str(seconds + 1.5), "--side", "owner"], stdout=subprocess.DEVNULL
    )
    try:
        time.sleep(0.5)  # the owner is waiting on its inbox
        out = subprocess.run(
            [*base, "--seconds", str(seconds), "--rate", str(rate), "--side", "sender"],
            check=True,
            capture_output=True,
        )
    finally:
        side.wait(timeout=seconds + 10)
    figures: dict[str, Any] = json.loads(out.stdout)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="redis://127.0.0.1:PORT of a running redis-server")
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--hops", type=int, choices=(2, 3), default=3,
        help="3: inbox, journal, answer (a forward); 2: inbox and journal, the sender "
        "reading the journal stream (the least a forward through Redis can take)",
    )  # fmt: skip
    parser.add_argument("--side", choices=("both", "owner", "sender"), default="both")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.side == "owner":  # the two sides, each run by run() in its own process
        uvloop.run(owner(args.url, args.seconds, args.hops))
        return 0
    if args.side == "sender":
        print(json.dumps(uvloop.run(sender(args.url, args.rate, args.seconds, args.hops))))
        return 0
    figures = run(args.url, rate=args.rate, seconds=args.seconds, hops=args.hops)
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    raise SystemExit(main())
