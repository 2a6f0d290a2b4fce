"""What only the Redis journal promises: its key layout (one Cluster slot per
auction), no redis-py exception ever escaping, and surviving a Redis restart.

Every test runs its own redis-server (tests/redis_server.py)."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from redis.asyncio import Redis
from redis.crc import key_slot

from auction.runtime.journal import (
    Append,
    Journal,
    JournalUnavailable,
    SequenceConflict,
    Snapshot,
    StaleEpoch,
)
from auction.runtime.redis import RedisJournal
from tests.redis_server import RedisServer, require_redis_server

TTL_MS = 30_000


@pytest.fixture
async def journal(redis_url: str) -> AsyncIterator[RedisJournal]:
    journal = RedisJournal(redis_url, timeout_s=0.5)
    yield journal
    await journal.close()


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def populated(journal: Journal, auction_id: str = "a1") -> int:
    """An auction with a lease, two events and a snapshot; returns the epoch."""
    await journal.create(auction_id, b"spec")
    epoch = await journal.acquire(auction_id, "n1", TTL_MS)
    assert epoch is not None
    assert await journal.append_batch(
        [Append(auction_id, epoch, 1, [b"e1", b"e2"], snapshot=b"s2")]
    ) == [None]
    return epoch


async def test_every_key_of_an_auction_carries_its_hash_tag(
    journal: RedisJournal, raw: Redis
) -> None:
    for auction_id in ("a1", "UA-2024-01-01-000001-a", "лот:7"):
        await populated(journal, auction_id)
    await journal.finish("a1")
    keys = sorted(k.decode() for k in await raw.keys("*"))
    indexes = [k for k in keys if "{" not in k]
    assert indexes == ["ub:auctions:active", "ub:auctions:finished"]
    for auction_id in ("a1", "UA-2024-01-01-000001-a", "лот:7"):
        own = [k for k in keys if f"{{{auction_id}}}" in k]
        parts = ("epoch", "events", "lease", "meta", "snapshot")
        assert own == [f"ub:{{{auction_id}}}:{part}" for part in parts]
        assert len({key_slot(k.encode()) for k in own}) == 1  # one Cluster slot
    assert len(keys) == 2 + 3 * 5


async def test_the_layout_on_the_server(journal: RedisJournal, raw: Redis) -> None:
    epoch = await populated(journal)
    entries = await raw.execute_command(b"XRANGE", "ub:{a1}:events", "-", "+")
    assert entries == [[b"1-0", [b"e", b"e1"]], [b"2-0", [b"e", b"e2"]]]
    assert await raw.hgetall("ub:{a1}:snapshot") == {b"seq": b"2", b"data": b"s2"}
    assert await raw.hgetall("ub:{a1}:meta") == {b"spec": b"spec", b"finished": b"0"}
    assert await raw.get("ub:{a1}:epoch") == str(epoch).encode()
    assert await raw.ttl("ub:{a1}:epoch") == -1  # the fencing counter never expires
    assert await raw.hgetall("ub:{a1}:lease") == {b"owner": b"n1", b"epoch": str(epoch).encode()}
    assert 0 < await raw.pttl("ub:{a1}:lease") <= TTL_MS
    assert await raw.smembers("ub:auctions:active") == {b"a1"}


async def test_a_prefix_separates_deployments(redis_url: str, raw: Redis) -> None:
    blue, green = RedisJournal(redis_url, prefix="blue"), RedisJournal(redis_url, prefix="green")
    try:
        await populated(blue)
        assert await green.spec("a1") is None
        assert await green.active_auctions() == []
        assert all(k.startswith(b"blue:") for k in await raw.keys("*"))
    finally:
        await blue.close()
        await green.close()


async def test_braces_that_would_split_an_auction_across_slots_are_refused(
    redis_url: str, journal: RedisJournal
) -> None:
    with pytest.raises(ValueError, match="prefix"):
        RedisJournal(redis_url, prefix="{ub}")
    for bad in ("", "a{1}", "}a"):
        with pytest.raises(ValueError, match="auction id"):
            await journal.create(bad, b"spec")


async def test_a_stale_epoch_is_refused_by_the_script_itself(
    journal: RedisJournal, raw: Redis
) -> None:
    """A takeover is only an INCR of the epoch key; no client-side check is involved."""
    epoch = await populated(journal)
    await raw.incr("ub:{a1}:epoch")  # a newer writer exists
    [result] = await journal.append_batch([Append("a1", epoch, 3, [b"e3"], snapshot=b"s3")])
    assert isinstance(result, StaleEpoch)
    assert await raw.xlen("ub:{a1}:events") == 2
    assert await journal.snapshot("a1") == Snapshot(2, b"s2")


async def test_the_lease_expires_on_the_server(journal: RedisJournal, raw: Redis) -> None:
    epoch = await populated(journal)
    await raw.delete("ub:{a1}:lease")  # what PEXPIRE does when the ttl runs out
    assert not await journal.renew("a1", "n1", epoch, TTL_MS)
    assert await journal.acquire("a1", "n2", TTL_MS) == epoch + 1


async def test_a_refusal_by_a_reachable_server_is_the_append_s_own_result(
    journal: RedisJournal, raw: Redis
) -> None:
    epoch = await populated(journal)
    await raw.config_set("maxmemory", 1)  # every write now fails with OOM
    try:
        results = await journal.append_batch([Append("a1", epoch, 3, [b"e3"], snapshot=b"s3")])
    finally:
        await raw.config_set("maxmemory", 0)
    [result] = results
    assert isinstance(result, JournalUnavailable)
    assert "maxmemory" in str(result)  # OOM on Redis 6, OutOfMemoryError on 7
    assert await journal.read("a1") == [(1, b"e1"), (2, b"e2")]
    assert await journal.snapshot("a1") == Snapshot(2, b"s2")
    assert await journal.append_batch([Append("a1", epoch, 3, [b"e3"])]) == [None]


async def test_lost_scripts_are_loaded_again(journal: RedisJournal, raw: Redis) -> None:
    epoch = await populated(journal)
    await raw.script_flush()
    assert await journal.append_batch(
        [Append("a1", epoch, 3, [b"e3"]), Append("a1", epoch, 4, [b"e4"])]
    ) == [None, None]
    await raw.script_flush()
    assert await journal.renew("a1", "n1", epoch, TTL_MS)
    assert await journal.last_seq("a1") == 4


async def test_a_stopped_server_is_unavailable_never_a_redis_error(
    redis_server: RedisServer, journal: RedisJournal
) -> None:
    epoch = await populated(journal)
    redis_server.stop()
    calls: list[Callable[[], Awaitable[object]]] = [
        lambda: journal.create("a2", b"spec"),
        lambda: journal.spec("a1"),
        lambda: journal.active_auctions(),
        lambda: journal.finish("a1"),
        lambda: journal.append_batch([Append("a1", epoch, 3, [b"e3"])]),
        lambda: journal.read("a1"),
        lambda: journal.last_seq("a1"),
        lambda: journal.snapshot("a1"),
        lambda: journal.acquire("a1", "n1", TTL_MS),
        lambda: journal.renew("a1", "n1", epoch, TTL_MS),
        lambda: journal.release("a1", "n1", epoch),
        lambda: journal.durability(),
        lambda: journal.connect(),
    ]
    for call in calls:
        with pytest.raises(JournalUnavailable, match=f"127.0.0.1:{redis_server.port}"):
            await call()


async def test_a_hung_server_times_out_as_unavailable(
    redis_server: RedisServer, redis_url: str
) -> None:
    journal = RedisJournal(redis_url, timeout_s=0.1)
    try:
        epoch = await populated(journal)
        os.kill(redis_server.pid, signal.SIGSTOP)
        try:
            with pytest.raises(JournalUnavailable, match="Timeout"):
                await journal.append_batch([Append("a1", epoch, 3, [b"e3"])])
        finally:
            os.kill(redis_server.pid, signal.SIGCONT)
        # The append may or may not have landed: a re-read tells, and a retry
        # of it is either accepted or a SequenceConflict, never a duplicate.
        [retry] = await journal.append_batch([Append("a1", epoch, 3, [b"e3"])])
        assert retry is None or isinstance(retry, SequenceConflict)
        assert await journal.read("a1") == [(1, b"e1"), (2, b"e2"), (3, b"e3")]
    finally:
        await journal.close()


async def test_after_a_restart_the_data_is_back_from_the_aof(
    redis_server: RedisServer, journal: RedisJournal
) -> None:
    epoch = await populated(journal)
    await journal.create("a2", b"spec 2")
    redis_server.stop()
    with pytest.raises(JournalUnavailable):
        await journal.read("a1")
    redis_server.start()  # same port, same directory: the AOF is replayed
    assert await journal.read("a1") == [(1, b"e1"), (2, b"e2")]
    assert await journal.snapshot("a1") == Snapshot(2, b"s2")
    assert await journal.active_auctions() == ["a1", "a2"]
    assert await journal.spec("a2") == b"spec 2"
    # The script cache did not survive the restart; the epoch and lease did.
    assert await journal.append_batch([Append("a1", epoch, 3, [b"e3"])]) == [None]
    assert await journal.acquire("a1", "n2", TTL_MS) is None
    assert await journal.renew("a1", "n1", epoch, TTL_MS)


async def test_durability_reports_the_server_settings(journal: RedisJournal) -> None:
    report = await journal.durability()
    assert report["appendonly"] == "yes"
    assert report["appendfsync"] == "everysec"
    assert report["redis_version"][0].isdigit()
    assert "machine crash" in report["survives"]


async def test_durability_with_fsync_always_and_with_config_disabled() -> None:
    binary = require_redis_server()
    for extra, expected in (
        ((), {"appendfsync": "always"}),
        (("--rename-command", "CONFIG", ""), {}),
    ):
        server = RedisServer(binary, appendfsync="always", extra_args=extra)
        try:
            server.start()
            journal = RedisJournal(server.url)
            report = await journal.durability()
            await journal.close()
        finally:
            server.close()
        if expected:
            assert report["appendfsync"] == "always"
            assert "every acknowledged event is fsynced" in report["survives"]
        else:
            assert report["config"].startswith("unavailable: ")
            assert "appendfsync" not in report
        assert report["redis_version"]


async def test_from_client_leaves_the_client_open(redis_url: str, raw: Redis) -> None:
    journal = RedisJournal.from_client(raw, prefix="x")
    await journal.create("a1", b"spec")
    await journal.close()
    assert await raw.ping()
    assert await raw.exists("x:{a1}:meta")


async def test_an_interrupted_create_or_finish_leaves_no_false_active_auction(
    journal: RedisJournal, raw: Redis
) -> None:
    await raw.sadd("ub:auctions:active", "half-created")  # create() stopped after SADD
    await populated(journal, "half-finished")
    await raw.sadd("ub:auctions:finished", "half-finished")  # finish() stopped before SREM
    await raw.hset("ub:{half-finished}:meta", "finished", 1)
    await populated(journal, "barely-finished")
    await raw.sadd("ub:auctions:finished", "barely-finished")  # stopped before the flag
    assert await journal.active_auctions() == ["barely-finished"]
    assert await journal.finished_auctions() == ["half-finished"]
    await journal.create("half-created", b"spec")  # the retries complete them
    await journal.finish("barely-finished")
    await journal.finish("half-finished")
    assert await journal.active_auctions() == ["half-created"]
    assert await journal.finished_auctions() == ["barely-finished", "half-finished"]
    assert await raw.smembers("ub:auctions:active") == {b"half-created"}
