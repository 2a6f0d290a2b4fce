"""The outbox contract (auction.runtime.outbox), run against every implementation:
in memory, on a private redis-server, and on a real three-node Redis Cluster
(one slot for the whole outbox). Times are handed in, so no test waits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.crc import key_slot

from auction.runtime.journal import JournalUnavailable
from auction.runtime.outbox import (
    DEAD,
    DELIVERED,
    MAX_KEPT,
    PENDING,
    Delivery,
    EndpointStats,
    MemoryOutbox,
    Outbox,
    delivery_id,
    open_outbox,
)
from auction.runtime.redis_outbox import RedisOutbox
from auction.runtime.sqlite_outbox import SqliteOutbox, outbox_path
from tests.redis_server import RedisServer, require_redis_server

T0 = 1_700_000_000_000
LEASE = 60_000
EPS = ("erp", "audit")


def delivery(n: int, endpoint: str = "erp", *, due: int = T0, created: int = T0) -> Delivery:
    message = f"msg_{n:04d}"
    return Delivery(
        id=delivery_id(message, endpoint),
        message_id=message,
        endpoint=endpoint,
        kind="lot.ended",
        payload=b'{"n": %d, "bytes": "\\u00ff"}' % n,
        created_at=created,
        due_at=due,
    )


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def outbox(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Outbox]:
    if request.param == "memory":
        yield MemoryOutbox()
        return
    if request.param == "sqlite":
        box = SqliteOutbox(tmp_path / "journal-outbox.sqlite3")
        try:
            yield box
        finally:
            await box.close()
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    box = RedisOutbox(server.url)
    try:
        yield box
    finally:
        await box.close()


async def claim(box: Outbox, owner: str = "n1", now: int = T0, limit: int = 10) -> list[Delivery]:
    return await box.claim(owner, now=now, lease_ms=LEASE, limit=limit, endpoints=EPS)


# ---------------------------------------------------------------- adding
async def test_add_is_idempotent(outbox: Outbox) -> None:
    assert await outbox.add([delivery(1), delivery(2)]) == 2
    assert await outbox.add([delivery(1), delivery(3)]) == 1
    got = await outbox.get(delivery(1).id)
    assert got == delivery(1)
    assert await outbox.get("msg_9999:erp") is None
    assert (await outbox.stats(EPS))["erp"] == EndpointStats(pending=3)


# ---------------------------------------------------------------- claiming
async def test_a_claim_takes_due_deliveries_oldest_first(outbox: Outbox) -> None:
    await outbox.add(
        [delivery(1, due=T0 + 5), delivery(2, due=T0 + 1), delivery(3, "audit", due=T0 + 3)]
    )
    await outbox.add([delivery(4, due=T0 + 1_000)])
    claimed = await claim(outbox, now=T0 + 10)
    assert [d.message_id for d in claimed] == ["msg_0002", "msg_0003", "msg_0001"]
    assert claimed[0].payload == delivery(2).payload


async def test_a_leased_delivery_is_claimed_by_no_one_else_until_the_lease_lapses(
    outbox: Outbox,
) -> None:
    await outbox.add([delivery(n) for n in range(5)])
    first = await claim(outbox, "n1", limit=3)
    second = await claim(outbox, "n2")
    assert {d.id for d in first}.isdisjoint(d.id for d in second)
    assert len(first) + len(second) == 5
    assert await claim(outbox, "n3", now=T0 + LEASE - 1) == []
    taken_over = await claim(outbox, "n3", now=T0 + LEASE)
    assert len(taken_over) == 5
    # n1's lease is gone: its late result changes nothing
    assert not await outbox.retry(first[0].id, "n1", due_at=T0, error="x", now=T0 + LEASE)
    assert not await outbox.dead(first[0].id, "n1", error="x", now=T0 + LEASE)


async def test_concurrent_claims_never_share_a_delivery(outbox: Outbox) -> None:
    await outbox.add([delivery(n) for n in range(40)])
    results = await asyncio.gather(*(claim(outbox, f"n{i}", limit=7) for i in range(8)))
    ids = [d.id for batch in results for d in batch]
    assert len(ids) == len(set(ids)) == 40


# ---------------------------------------------------------------- results
async def test_retry_moves_it_later_and_counts_the_attempt(outbox: Outbox) -> None:
    await outbox.add([delivery(1)])
    (d,) = await claim(outbox)
    assert await outbox.retry(d.id, "n1", due_at=T0 + 5_000, error="HTTP 500", now=T0)
    assert await claim(outbox, now=T0 + 4_999) == []
    (again,) = await claim(outbox, "n2", now=T0 + 5_000)
    assert (again.attempts, again.last_error, again.due_at) == (1, "HTTP 500", T0 + 5_000)
    assert again.message_id == d.message_id


async def test_delivered_is_final(outbox: Outbox) -> None:
    await outbox.add([delivery(1), delivery(2)])
    a, b = await claim(outbox)
    await outbox.delivered(a.id, now=T0 + 7)
    await outbox.delivered(a.id, now=T0 + 8)  # twice (a late duplicate): no harm
    got = await outbox.get(a.id)
    assert got is not None and (got.state, got.attempts, got.finished_at) == (DELIVERED, 1, T0 + 7)
    assert not await outbox.retry(a.id, "n1", due_at=T0, error="late", now=T0)
    assert await claim(outbox, now=T0 + LEASE * 2) == [await outbox.get(b.id)]
    stats = (await outbox.stats(EPS))["erp"]
    assert (stats.pending, stats.delivered, stats.dead) == (1, 1, 0)
    assert [d.id for d in await outbox.recent("erp", DELIVERED, 10)] == [a.id]


async def test_dead_is_final_and_kept_for_the_operators(outbox: Outbox) -> None:
    await outbox.add([delivery(1)])
    (d,) = await claim(outbox)
    long_error = "HTTP 503: " + "x" * 1000
    assert await outbox.dead(d.id, "n1", error=long_error, now=T0 + 9)
    got = await outbox.get(d.id)
    assert got is not None and got.state == DEAD and len(got.last_error) == 300
    assert await claim(outbox, now=T0 + 10 * LEASE) == []
    assert [x.id for x in await outbox.recent("erp", DEAD, 10)] == [d.id]
    assert (await outbox.stats(EPS))["erp"].dead == 1


async def test_only_the_most_recent_finished_deliveries_are_kept(outbox: Outbox) -> None:
    n = MAX_KEPT + 5
    await outbox.add([delivery(i) for i in range(n)])
    for d in await claim(outbox, limit=n):
        await outbox.delivered(d.id, now=T0 + int(d.message_id[4:]))
    assert await outbox.get(delivery(0).id) is None
    assert await outbox.get(delivery(n - 1).id) is not None
    assert (await outbox.stats(EPS))["erp"].delivered == n


# ---------------------------------------------------------------- endpoints
async def test_a_disabled_endpoint_is_not_claimed_until_enabled(outbox: Outbox) -> None:
    await outbox.add([delivery(1, "erp"), delivery(2, "audit")])
    await outbox.disable("erp", reason="HTTP 410 Gone", now=T0)
    await outbox.disable("erp", reason="again", now=T0 + 1)  # the first reason stays
    assert [d.endpoint for d in await claim(outbox)] == ["audit"]
    stats = (await outbox.stats(EPS))["erp"]
    assert (stats.disabled, stats.disabled_at, stats.pending) == ("HTTP 410 Gone", T0, 1)
    assert await outbox.enable("erp")
    assert not await outbox.enable("erp")
    assert [d.endpoint for d in await claim(outbox)] == ["erp"]
    assert (await outbox.stats(EPS))["erp"].disabled == ""


async def test_pending_deliveries_are_listed(outbox: Outbox) -> None:
    await outbox.add([delivery(1), delivery(2, due=T0 + 5)])
    assert [d.state for d in await outbox.recent("erp", PENDING, 10)] == [PENDING, PENDING]
    assert len(await outbox.recent("erp", PENDING, 1)) == 1


# ---------------------------------------------------------------- Redis only
async def test_the_outbox_survives_a_redis_restart(redis_server: RedisServer) -> None:
    box = RedisOutbox(redis_server.url)
    try:
        await box.add([delivery(1)])
        redis_server.stop()
        with pytest.raises(JournalUnavailable):
            await claim(box)
        redis_server.start()
        (d,) = await claim(box)
        assert d == delivery(1)
    finally:
        await box.close()


def test_every_key_of_the_outbox_is_in_one_slot() -> None:
    box = RedisOutbox.from_client(Redis(), prefix="ub")
    slots = {
        key_slot(key.encode())
        for n, endpoint in ((1, "erp"), (2, "audit"), (3, "x-9"))
        for key in box.keys_of(delivery(n, endpoint))
    }
    assert len(slots) == 1


async def test_open_outbox_follows_the_journal_url(tmp_path: Path) -> None:
    assert isinstance(open_outbox(None), MemoryOutbox)
    assert isinstance(open_outbox("memory://"), MemoryOutbox)
    assert isinstance(open_outbox("redis://127.0.0.1:1/0"), RedisOutbox)
    assert isinstance(open_outbox("redis+cluster://127.0.0.1:1"), RedisOutbox)
    sqlite = open_outbox(f"sqlite:{tmp_path}/data/journal.sqlite3")
    assert isinstance(sqlite, SqliteOutbox)
    assert sqlite.path == tmp_path / "data" / "journal-outbox.sqlite3"
    assert outbox_path("x/journal.sqlite3").name == "journal-outbox.sqlite3"
    await sqlite.close()
    for bad in ("postgres://x", "sqlite:"):
        with pytest.raises(ValueError):
            open_outbox(bad)


async def test_the_sqlite_outbox_survives_a_kill_and_is_one_process(tmp_path: Path) -> None:
    """Written is on disk; a lease of a process that died is cleared at open; a
    second opener of the same file is refused."""
    import subprocess
    import sys

    path = tmp_path / "journal-outbox.sqlite3"
    script = (
        "import asyncio, os, signal\n"
        "from auction.runtime.sqlite_outbox import SqliteOutbox\n"
        "from tests.runtime.test_outbox_contract import delivery, T0, EPS\n"
        "async def main():\n"
        f"    box = SqliteOutbox({str(path)!r})\n"
        "    await box.add([delivery(1), delivery(2)])\n"
        "    await box.claim('dead-node', now=T0, lease_ms=10**9, limit=1, endpoints=EPS)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "asyncio.run(main())\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert done.returncode == -9, done.stderr.decode()
    box = SqliteOutbox(path)
    try:
        with pytest.raises(JournalUnavailable, match="in use"):
            SqliteOutbox(path)
        claimed = await claim(box, "n2")
        assert sorted(d.message_id for d in claimed) == ["msg_0001", "msg_0002"]
    finally:
        await box.close()


# ------------------------------------------------------------ Redis Cluster
@pytest.fixture
def cluster() -> Iterator[list[RedisServer]]:
    """Three masters made into a cluster with ``redis-cli --cluster create``."""
    import shutil
    import subprocess

    binary = require_redis_server()
    cli = shutil.which("redis-cli")
    if cli is None:
        import os

        if os.environ.get("CI"):
            pytest.fail("redis-cli is needed for the cluster test", pytrace=False)
        pytest.skip("no redis-cli")
    nodes = [RedisServer(binary, extra_args=["--cluster-enabled", "yes"]) for _ in range(3)]
    try:
        for node in nodes:
            node.port = _cluster_port()  # its bus is on port + 10000, which must be free too
            node.start()
        addresses = [f"127.0.0.1:{node.port}" for node in nodes]
        subprocess.run(
            [cli, "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=30,
        )
        yield nodes
    finally:
        for node in nodes:
            node.close()


def _cluster_port() -> int:
    import random
    import socket

    for _ in range(100):
        port = random.randint(20_000, 45_000)
        try:
            for candidate in (port, port + 10_000):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port
    raise AssertionError("no free pair of ports for a cluster node")


async def test_the_outbox_works_on_a_redis_cluster(cluster: list[RedisServer]) -> None:
    from redis.asyncio.cluster import RedisCluster

    client = RedisCluster(host="127.0.0.1", port=cluster[0].port, decode_responses=False)
    try:
        for _ in range(200):  # the cluster settles within a second or so
            try:
                await client.set("probe", b"1")
                break
            except Exception:
                await asyncio.sleep(0.05)
        box = RedisOutbox.from_client(client)
        await box.add([delivery(n, ep) for n in range(6) for ep in EPS])
        first, second = await asyncio.gather(claim(box, "n1", limit=6), claim(box, "n2", limit=6))
        assert {d.id for d in first}.isdisjoint(d.id for d in second)
        assert len(first) + len(second) == 12
        await box.delivered(first[0].id, now=T0 + 1)
        assert await box.retry(first[1].id, "n1", due_at=T0 + 10, error="e", now=T0)
        await box.disable("audit", reason="410", now=T0)
        stats = await box.stats(EPS)
        assert stats[first[0].endpoint].delivered == 1
        assert stats["audit"].disabled == "410"
    finally:
        await client.aclose()
