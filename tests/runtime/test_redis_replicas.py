"""``min_replicas``: an append or a lease is acknowledged only once that many
replicas confirm it (WAIT; WAITAOF on Redis >= 7.2), else it is unavailable.
And the journal URLs of a Sentinel master and a Cluster.

Real servers (tests/redis_server.py): a primary alone, then with a replica."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis, RedisCluster

from auction.runtime.journal import Append, JournalUnavailable, open_journal
from auction.runtime.redis import RedisJournal
from auction.runtime.redis_connect import connect
from tests.redis_server import RedisServer, require_redis_server
from tests.redis_topology import ClusterDeployment, SentinelDeployment

TTL_MS = 30_000


@pytest.fixture
def replica(redis_server: RedisServer) -> Iterator[RedisServer]:
    server = RedisServer(
        require_redis_server(), extra_args=["--replicaof", "127.0.0.1", str(redis_server.port)]
    )
    try:
        server.start()
        SentinelDeployment.wait_replicated(redis_server, 1)
        yield server
    finally:
        server.close()


@pytest.fixture
async def plain(redis_url: str) -> AsyncIterator[RedisJournal]:
    journal = RedisJournal(redis_url)
    yield journal
    await journal.close()


async def test_without_a_replica_nothing_is_acknowledged(
    redis_url: str, plain: RedisJournal
) -> None:
    await plain.create("a1", b"spec")
    epoch = await plain.acquire("a1", "n1", TTL_MS)
    assert epoch is not None
    strict = RedisJournal(redis_url, min_replicas=1, replica_timeout_ms=50)
    try:
        with pytest.raises(JournalUnavailable, match="only 0 of 1 replicas confirmed"):
            await strict.acquire("a1", "n1", TTL_MS)  # ran (a new epoch), not acknowledged
        epoch = await plain.acquire("a1", "n1", TTL_MS)
        assert epoch is not None
        [result] = await strict.append_batch([Append("a1", epoch, 1, [b"e1"])])
        assert isinstance(result, JournalUnavailable)
        assert "ran on the primary, but only 0 of 1 replicas" in str(result)
        report = await strict.durability()
        assert report["replicas"] == "0"
        assert report["acknowledged_after"].startswith("1 replica(s) confirm")
    finally:
        await strict.close()


async def test_with_a_replica_appends_and_leases_are_acknowledged(
    redis_server: RedisServer, replica: RedisServer
) -> None:
    strict = RedisJournal(redis_server.url, min_replicas=1)
    on_replica = Redis.from_url(replica.url)
    try:
        await strict.create("a1", b"spec")
        epoch = await strict.acquire("a1", "n1", TTL_MS)
        assert epoch is not None
        # Confirmed means the replica holds it when the call returns.
        assert int(await on_replica.get("ub:{a1}:epoch")) == epoch
        results = await strict.append_batch(
            [Append("a1", epoch, 1, [b"e1", b"e2"]), Append("a1", epoch, 3, [b"e3"])]
        )
        assert results == [None, None]
        assert await on_replica.xlen("ub:{a1}:events") == 3
        assert (await strict.durability())["replicas"] == "1"
        async with Redis.from_url(redis_server.url) as raw:
            await raw.script_flush()  # the primary lost its scripts (as after a restart)
        assert await strict.append_batch([Append("a1", epoch, 4, [b"e4"])]) == [None]
        assert await on_replica.xlen("ub:{a1}:events") == 4
    finally:
        await strict.close()
        await on_replica.aclose()


async def test_an_older_server_after_waitaof_is_unavailable_once_then_waits(
    redis_server: RedisServer, replica: RedisServer
) -> None:
    strict = RedisJournal(redis_server.url, min_replicas=1)
    try:
        await strict.create("a1", b"spec")
        epoch = await strict.acquire("a1", "n1", TTL_MS)
        assert epoch is not None
        version = strict._version
        assert version is not None
        if version >= (7, 2):
            pytest.skip("this server has WAITAOF: the fallback is for older ones")
        strict._version = (7, 2)  # as if the last server was 7.2 and a failover brought 7.0
        [result] = await strict.append_batch([Append("a1", epoch, 1, [b"e1"])])
        assert isinstance(result, JournalUnavailable)
        assert "the wait for replicas failed" in str(result)
        assert strict._version is None  # asked again next time
        [result] = await strict.append_batch([Append("a1", epoch, 2, [b"e2"])])
        assert result is None
        assert strict._version == version
    finally:
        await strict.close()


def test_a_replica_timeout_longer_than_the_reply_timeout_is_refused(redis_url: str) -> None:
    with pytest.raises(ValueError, match="shorter than the reply timeout"):
        RedisJournal(redis_url, min_replicas=1, replica_timeout_ms=2_000, timeout_s=2.0)
    with pytest.raises(ValueError, match="min_replicas must be 0 to 16"):
        RedisJournal(redis_url, min_replicas=17)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis+sentinel://127.0.0.1:26379", "name the master"),
        ("redis+sentinel://127.0.0.1:26379/m/x", "not a number"),
        ("redis+sentinel://127.0.0.1:0/m", "is not HOST"),
        ("redis+sentinel://:26379/m", "is not HOST"),
        ("redis+sentinel://a:1,,b:2/m", "(empty)"),
        ("redis+cluster://127.0.0.1:7000/0", "no database"),
        ("redis+cluster://127.0.0.1:x", "is not HOST"),
        ("redis+cluster://127.0.0.1:7000?password=x", "no query"),
    ],
)
def test_bad_sentinel_and_cluster_urls_are_clear_errors(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        connect(url, timeout_s=1.0)


async def test_urls_name_their_kind_and_never_show_the_password() -> None:
    sentinel = open_journal("redis+sentinel://u:s3cret@10.0.0.1,10.0.0.2:26380/main/2")
    cluster = open_journal("redis+cluster://:s3cret@10.0.0.1:7000,10.0.0.2")
    try:
        assert sentinel.name == "redis-sentinel"
        assert cluster.name == "redis-cluster"
        for journal in (sentinel, cluster):
            assert isinstance(journal, RedisJournal)
            assert "s3cret" not in journal._where
        assert "10.0.0.1:26379,10.0.0.2:26380" in sentinel._where
        assert "'main'" in sentinel._where
        assert "10.0.0.1:7000,10.0.0.2:6379" in cluster._where
    finally:
        await sentinel.close()
        await cluster.close()


async def test_a_sentinel_url_reaches_the_master_and_a_cluster_client_can_be_lent(
    sentinel_deployment: SentinelDeployment, redis_cluster: ClusterDeployment
) -> None:
    journal = RedisJournal(sentinel_deployment.url, prefix="lent", min_replicas=2)
    try:
        report = await journal.durability()
        assert report["replicas"] == "2"
        assert report["store"].startswith("redis-sentinel at master 'underbid'")
    finally:
        await journal.close()
    client = RedisCluster.from_url(redis_cluster.servers[0].url.removesuffix("/0"))
    lent = RedisJournal.from_client(client, prefix="lent", min_replicas=1)
    try:
        assert lent.name == "redis-cluster"
        await lent.create("a1", b"spec")
        assert await lent.acquire("a1", "n1", TTL_MS) is not None
        report = await lent.durability()
        assert report["replicas"] == "1"  # every primary has one
        await lent.close()  # the caller's: left open
        assert await client.ping()
    finally:
        await client.aclose()


@pytest.mark.parametrize("min_replicas", [0, 1])
async def test_a_promoted_replica_that_missed_an_acquire_reuses_its_epoch(
    redis_server: RedisServer, replica: RedisServer, min_replicas: int
) -> None:
    """Why acquisitions wait for replicas too. The replica stops receiving (here:
    stopped, and its link cut), n1 takes a new epoch on the primary, the primary dies and the
    replica is promoted: with ``min_replicas = 0`` n2 is then handed the very
    epoch n1 holds, and the fencing cannot tell their appends apart; with
    ``min_replicas = 1`` n1's acquisition was never acknowledged, so no writer
    holds the epoch n2 gets."""
    primary = RedisJournal(redis_server.url, min_replicas=min_replicas, replica_timeout_ms=100)
    promoted: RedisJournal | None = None
    try:
        await primary.create("a1", b"spec")
        first = await primary.acquire("a1", "n1", TTL_MS)
        assert first is not None
        await primary.release("a1", "n1", first)
        SentinelDeployment.wait_replicated(redis_server, 1)
        async with Redis.from_url(replica.url) as on_replica:  # the release reached it
            await _replicated(on_replica, first)
        os.kill(replica.pid, signal.SIGSTOP)  # it cannot reconnect...
        async with Redis.from_url(redis_server.url) as on_primary:  # ...once cut off
            await on_primary.execute_command("CLIENT", "KILL", "TYPE", "replica")
        try:
            try:
                held: int | None = await primary.acquire("a1", "n1", TTL_MS)
            except JournalUnavailable:
                held = None  # ran on the primary, never acknowledged: n1 may not write
        finally:
            redis_server.kill()  # the primary dies before the replica got the INCR
            os.kill(replica.pid, signal.SIGCONT)
        async with Redis.from_url(replica.url) as on_replica:
            await on_replica.execute_command("REPLICAOF", "NO", "ONE")  # the failover
        promoted = RedisJournal(replica.url)
        taken = await promoted.acquire("a1", "n2", TTL_MS)
        assert taken is not None
        if min_replicas:
            assert held is None, "an acquisition no replica confirmed was acknowledged"
        else:
            assert held == taken == first + 1, "the same epoch, handed to two writers"
            [stale] = await promoted.append_batch([Append("a1", held, 1, [b"from n1"])])
            assert stale is None  # accepted: the risk of min_replicas = 0
    finally:
        await primary.close()
        if promoted is not None:
            await promoted.close()


async def _replicated(client: Redis, epoch: int) -> None:
    deadline = asyncio.get_running_loop().time() + 5
    while await client.get("ub:{a1}:epoch") != str(epoch).encode() or await client.exists(
        "ub:{a1}:lease"
    ):
        assert asyncio.get_running_loop().time() < deadline, "never replicated"
        await asyncio.sleep(0.01)  # bounded polling of a real replica
