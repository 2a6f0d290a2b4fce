"""The Redis journal: one Redis Stream per auction, fenced by an epoch.

Key layout (``P`` is the prefix, ``ub`` by default; ``{id}`` is a Redis Cluster
hash tag, so every key of one auction lives in one slot and one script may
touch them all)::

    P:{id}:events       stream: entry id ``<seq>-0``, one field ``e`` = event bytes
    P:{id}:meta         hash: ``spec`` (bytes as given), ``finished`` (0 or 1)
    P:{id}:epoch        string: the fencing counter; INCR on every acquire; no TTL
    P:{id}:lease        hash: ``owner``, ``epoch``; PEXPIRE ttl
    P:{id}:snapshot     hash: ``seq``, ``data``
    P:auctions:active   set of the ids created and not finished
    P:auctions:finished set of the ids finished
                        (the two sets have no hash tag: each is one key in one
                        slot, touched by create() and finish() with one
                        single-key command at a time, never by a script; the
                        meta hash's ``finished`` flag is the truth they are
                        checked against)

What is guaranteed, and by whom:

- **Fencing is done by Redis, not by the caller.** The append is one Lua script
  that compares the append's epoch with the ``epoch`` key and the first seq
  with the stream's last entry, and only then XADDs the events and HSETs the
  snapshot. A script runs atomically, so a writer fenced by a newer
  :meth:`~RedisJournal.acquire` can write neither events nor a snapshot, and an
  append that is refused writes nothing.
- **Group commit.** :meth:`~RedisJournal.append_batch` sends every append of the
  batch as EVALSHA calls in one pipeline: one round trip (one per primary on a
  Cluster, in parallel), and with ``appendfsync always`` one fsync, for the
  whole batch.
- **Nothing from redis-py escapes.** A connection error, a timeout, a server
  still loading its AOF, a read-only replica, an out-of-memory refusal: all
  become :class:`~auction.runtime.journal.JournalUnavailable`. An append in
  flight when that happens may or may not have been written; the caller finds
  out by reading (a retried append gets :class:`SequenceConflict` if the first
  try landed). For that reason the client is built with **no automatic
  retries**: a silent retry would turn "landed" into a confusing conflict and
  would stretch an outage into seconds of hidden back-off.
- **Unknown auctions** raise :class:`KeyError`, as in the memory journal,
  except :meth:`~RedisJournal.spec`, which returns None.

Where the server is: one URL names a server, a master watched by Sentinel, or
a Cluster (:mod:`auction.runtime.redis_connect`). After a Sentinel failover
the next call reaches the promoted replica; on a Cluster, redirected calls
follow the slot to its new primary. The calls in flight during the switch are
:class:`JournalUnavailable`, and the runtime rebuilds the auction from
whatever the new primary holds.

**Replicas** (``min_replicas``). Redis replicates asynchronously: the primary
answers before any replica has the write, so a failover may promote a replica
that lacks the last acknowledged appends. With ``min_replicas = N`` every
append batch and every :meth:`~RedisJournal.acquire` is followed, on the same
connection in the same round trip, by ``WAIT N timeout`` (``WAITAOF 0 N
timeout`` where the server is Redis 7.2 or later: the replicas have also
written it to their AOF, so they must run ``appendonly yes``); a reply below
N makes the call :class:`JournalUnavailable` (it ran on the primary, but is
not acknowledged), so no bid is acknowledged before N replicas hold it.
The acquisition matters as much as the append: the epoch counter is only as
durable as its replication, and a promoted replica that missed an ``INCR``
would hand the same epoch to a second writer, whose appends the fencing could
then not tell from the first's. With ``min_replicas = 0`` that window is
open for as long as replication lags (sub-millisecond on a healthy network);
docs/operations.md gives the measured figures.

Durability on one server is whatever it is configured for (see
:meth:`~RedisJournal.durability`): ``appendonly yes`` with ``appendfsync
always`` survives a machine crash; ``everysec`` survives a Redis crash and
loses at most about a second on a machine crash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.cluster import ClusterNode
from redis.exceptions import (
    ClusterError,
    NoScriptError,
    RedisClusterException,
    RedisError,
    ResponseError,
    SlotNotCoveredError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from auction.runtime.journal import (
    Append,
    AuctionExists,
    JournalError,
    JournalUnavailable,
    SequenceConflict,
    Snapshot,
    StaleEpoch,
)
from auction.runtime.redis_connect import Connection, connect

READ_CHUNK = 10_000
"""Stream entries fetched per XRANGE call by :meth:`RedisJournal.read`."""
MAX_REPLICAS = 16
"""The largest ``min_replicas`` accepted."""
WAITAOF_SINCE = (7, 2)
"""The first Redis version with WAITAOF."""

# Reply codes of the scripts; the Python side maps them to results.
_OK, _STALE, _CONFLICT, _NO_AUCTION = 0, 1, 2, 3


class _Script:
    """A Lua script called by SHA (EVALSHA), loaded on the first NOSCRIPT."""

    def __init__(self, name: str, source: str) -> None:
        self.name = name
        """For error messages."""
        self.source = source.encode()
        """The Lua text."""
        self.sha = hashlib.sha1(self.source, usedforsecurity=False).hexdigest()
        """What EVALSHA names; the same as SCRIPT LOAD returns."""


# KEYS: meta | ARGV: spec
_CREATE = _Script(
    "create",
    """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'spec', ARGV[1], 'finished', 0)
return 1
""",
)

# KEYS: meta | ARGV: -
_FINISH = _Script(
    "finish",
    """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'finished', 1)
return 1
""",
)

# KEYS: meta, epoch, events, snapshot
# ARGV: epoch, first_seq, has_snapshot ('1' or '0'), snapshot data, event 1, event 2, ...
# Reply: {code, n}: n is the last seq written (OK), the current epoch (STALE) or
# the stream's last seq (CONFLICT).
_APPEND = _Script(
    "append",
    """
if redis.call('EXISTS', KEYS[1]) == 0 then return {3, 0} end
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
if tonumber(ARGV[1]) ~= current then return {1, current} end
local last = 0
local tail = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
if #tail > 0 then last = tonumber(string.match(tail[1][1], '^(%d+)')) end
local seq = tonumber(ARGV[2])
if seq ~= last + 1 then return {2, last} end
for i = 5, #ARGV do
  redis.call('XADD', KEYS[3], string.format('%d-0', seq), 'e', ARGV[i])
  seq = seq + 1
end
if ARGV[3] == '1' then
  redis.call('HSET', KEYS[4], 'seq', seq - 1, 'data', ARGV[4])
end
return {0, seq - 1}
""",
)

# KEYS: meta, lease, epoch | ARGV: owner, ttl_ms
# Reply: the new epoch, 0 if another owner's lease is live, -1 if no auction.
_ACQUIRE = _Script(
    "acquire",
    """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local holder = redis.call('HGET', KEYS[2], 'owner')
if holder and holder ~= ARGV[1] then return 0 end
local epoch = redis.call('INCR', KEYS[3])
redis.call('HSET', KEYS[2], 'owner', ARGV[1], 'epoch', epoch)
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return epoch
""",
)

# KEYS: meta, lease | ARGV: owner, epoch, ttl_ms
# Reply: 1 renewed, 0 lost, -1 no auction.
_RENEW = _Script(
    "renew",
    """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local lease = redis.call('HMGET', KEYS[2], 'owner', 'epoch')
if lease[1] ~= ARGV[1] or lease[2] ~= ARGV[2] then return 0 end
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 1
""",
)

# KEYS: meta, lease | ARGV: owner, epoch
# Reply: 1 released, 0 not ours (left alone), -1 no auction.
_RELEASE = _Script(
    "release",
    """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local lease = redis.call('HMGET', KEYS[2], 'owner', 'epoch')
if lease[1] ~= ARGV[1] or lease[2] ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[2])
return 1
""",
)

# KEYS: meta, lease, epoch | ARGV: owner, dead owner, ttl_ms
# Reply: the new epoch; 0 if the lease is held by someone else than the dead
# owner; -1 if there is no such auction.
_STEAL = _Script(
    "steal",
    """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local holder = redis.call('HGET', KEYS[2], 'owner')
if holder and holder ~= ARGV[2] and holder ~= ARGV[1] then return 0 end
local epoch = redis.call('INCR', KEYS[3])
redis.call('HSET', KEYS[2], 'owner', ARGV[1], 'epoch', epoch)
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return epoch
""",
)

_SCRIPTS = (_CREATE, _FINISH, _APPEND, _ACQUIRE, _STEAL, _RENEW, _RELEASE)


def _no_auction(auction_id: str) -> KeyError:
    return KeyError(f"no auction {auction_id!r} in the journal")


def _seq_of(entry_id: bytes) -> int:
    """``b"42-0"`` -> 42."""
    return int(entry_id.partition(b"-")[0])


class RedisJournal:
    """Journal on Redis: one server, a Sentinel-watched master, or a Cluster
    (every auction's keys share a slot).

    ``timeout_s`` bounds connecting and every reply: past it the call raises
    :class:`JournalUnavailable`. ``prefix`` namespaces the keys, so several
    deployments (or test runs) can share one server. ``min_replicas`` and
    ``replica_timeout_ms``: see the module docstring; the timeout must be
    shorter than ``timeout_s``, or the socket would give up first.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "ub",
        timeout_s: float = 2.0,
        min_replicas: int = 0,
        replica_timeout_ms: int = 1_000,
    ) -> None:
        _check_replicas(min_replicas, replica_timeout_ms, timeout_s)
        self._setup(connect(url, timeout_s=timeout_s), prefix, owns_client=True)
        self.min_replicas = min_replicas
        """Replicas that must confirm every append and acquisition (0: none)."""
        self.replica_timeout_ms = replica_timeout_ms
        """How long the primary waits for them before the call is unavailable."""

    @classmethod
    def from_client(
        cls,
        client: Redis | RedisCluster,
        *,
        prefix: str = "ub",
        min_replicas: int = 0,
        replica_timeout_ms: int = 1_000,
    ) -> RedisJournal:
        """Use a client built elsewhere (it must have ``decode_responses=False``).

        The caller keeps ownership: :meth:`close` leaves it open. Its retry
        policy is the caller's choice; the constructor's is none (see the
        module docstring for why).
        """
        journal = cls.__new__(cls)
        if isinstance(client, RedisCluster):
            connection = Connection("redis-cluster", client, "a cluster")
        else:
            kwargs = client.connection_pool.connection_kwargs
            where = f"{kwargs.get('host', kwargs.get('path', '?'))}:{kwargs.get('port', '')}"
            connection = Connection("redis", client, where.rstrip(":"))
        _check_replicas(min_replicas, replica_timeout_ms, None)
        journal._setup(connection, prefix, owns_client=False)
        journal.min_replicas = min_replicas
        journal.replica_timeout_ms = replica_timeout_ms
        return journal

    def _setup(self, connection: Connection, prefix: str, *, owns_client: bool) -> None:
        if not prefix or "{" in prefix or "}" in prefix:
            raise ValueError(f"prefix {prefix!r} must be non-empty and free of braces")
        self.name = connection.kind
        """``redis``, ``redis-sentinel`` or ``redis-cluster``."""
        self._connection = connection
        self._client = connection.client
        """The redis.asyncio client (a pool of connections; per node on a Cluster)."""
        self._cluster = connection.client if isinstance(connection.client, RedisCluster) else None
        """The same client when it is a Cluster's."""
        self._prefix = prefix
        """First part of every key."""
        self._owns_client = owns_client
        """Whether :meth:`close` closes the client."""
        self._where = connection.where
        """Where the server is, for messages (never the URL: it may hold a password)."""
        self._version: tuple[int, int] | None = None
        """The (oldest) server's version, once asked; forgotten after an error."""
        self._stale_map = False
        """A Cluster call failed: reload the slot map before the next one."""

    @property
    def client(self) -> Any:
        """The client every call goes through (the cluster's bus shares it)."""
        return self._client

    @property
    def prefix(self) -> str:
        """First part of every key."""
        return self._prefix

    # -- keys ------------------------------------------------------------------

    def _key(self, auction_id: str, part: str) -> str:
        # An empty id or a brace would change the hash tag, and with it the
        # guarantee that one auction's keys share a Cluster slot.
        if not auction_id or "{" in auction_id or "}" in auction_id:
            raise ValueError(f"auction id {auction_id!r} must be non-empty and free of braces")
        return f"{self._prefix}:{{{auction_id}}}:{part}"

    @property
    def _active_key(self) -> str:
        return f"{self._prefix}:auctions:active"

    @property
    def _finished_key(self) -> str:
        return f"{self._prefix}:auctions:finished"

    # -- plumbing --------------------------------------------------------------

    @contextmanager
    def _unavailable(self, what: str) -> Iterator[None]:
        """Turn every redis-py and socket error into :class:`JournalUnavailable`."""
        try:
            yield
        except (RedisError, RedisClusterException, OSError) as exc:
            self._version = None  # after a failover the server may be another one
            self._stale_map = self._cluster is not None
            raise JournalUnavailable(
                f"redis journal at {self._where}: {what} failed: {type(exc).__name__}: {exc}"
            ) from exc

    async def _command(self, *args: Any) -> Any:
        """One command (redis-py leaves ``execute_command`` untyped)."""
        await self._fresh_map()
        client: Any = self._client
        return await client.execute_command(*args)

    async def _fresh_map(self) -> None:
        """After a failed Cluster call, drop the connections and the slot map, so
        the next call asks the cluster again: redis-py reloads the map by itself
        only when a single command (not a pipeline) fails, and only with
        retries, which this client has none of (see the module docstring)."""
        if self._stale_map and self._cluster is not None:
            self._stale_map = False
            await self._cluster.aclose()

    def _note_failures(self, replies: Sequence[Any]) -> None:
        """A Cluster reply that is a connection error or a cluster error means the
        slot map may be stale (a failover): reload it before the next call."""
        if self._cluster is not None and any(
            isinstance(
                r, RedisConnectionError | RedisTimeoutError | ClusterError | RedisClusterException
            )
            for r in replies
        ):
            self._stale_map = True

    async def _load_scripts(self) -> None:
        await self._fresh_map()
        for script in _SCRIPTS:  # on a Cluster, SCRIPT LOAD goes to every primary
            await self._client.script_load(script.source)

    async def _run(
        self, script: _Script, keys: Sequence[str], args: Sequence[Any], *, replicated: bool = False
    ) -> Any:
        """EVALSHA (loading the scripts if the server lost them); with
        ``replicated``, confirmed by ``min_replicas`` replicas."""
        call = ["EVALSHA", script.sha, len(keys), *keys, *args]
        with self._unavailable(script.name):
            [reply] = await self._send([call], replicated=replicated)
        if isinstance(reply, Exception):
            error = JournalUnavailable(
                f"redis journal at {self._where}: {script.name} {_refusal(reply)}"
            )
            raise error from reply
        return reply

    async def _send(self, calls: Sequence[list[Any]], *, replicated: bool) -> list[Any]:
        """The calls in one round trip (per primary on a Cluster); a call the
        server refused gets its error as its reply.

        Calls refused with NOSCRIPT (the server lost its scripts: a restart, a
        failover) did not run: they are sent again, in order, once the scripts
        are loaded. With ``replicated`` and :attr:`min_replicas`, every server's
        calls are followed by WAIT (:meth:`_confirmed`).
        """
        send = self._confirmed if replicated and self.min_replicas else self._pipeline
        replies = await send(calls)
        missing = [i for i, r in enumerate(replies) if isinstance(r, NoScriptError)]
        if missing:
            await self._load_scripts()
            again = await send([calls[i] for i in missing])
            for i, reply in zip(missing, again, strict=True):
                replies[i] = reply
        return replies

    async def _confirmed(self, calls: Sequence[list[Any]]) -> list[Any]:
        """The calls, each server's followed by WAIT (WAITAOF on Redis >= 7.2) on
        the same connection; a call its server did not confirm gets an
        :class:`_Unconfirmed` as its reply. Every call is an EVALSHA (its first
        key, which names its slot, at index 3)."""
        wait = await self._wait_call()
        if self._cluster is None:
            replies = await self._pipeline([*calls, wait])
            problem = self._unconfirmed(replies[-1])
            return [_confirm(reply, problem) for reply in replies[:-1]]
        cluster = self._cluster
        await self._fresh_map()
        await cluster.initialize()
        keys = [call[3] for call in calls]
        before = [_node(cluster, key) for key in keys]
        nodes = {node.name: node for node in before}
        pipe = cluster.pipeline()
        for call in calls:
            pipe.execute_command(*call)
        for node in nodes.values():
            pipe.execute_command(*wait, target_nodes=node)
        replies = list(await pipe.execute(raise_on_error=False))
        self._note_failures(replies)
        problems = {
            name: self._unconfirmed(reply)
            for name, reply in zip(nodes, replies[len(calls) :], strict=True)
        }
        out = []
        for key, node, reply in zip(keys, before, replies, strict=False):
            # A call redirected (MOVED) mid-way ran on a server its WAIT did not ask.
            moved = _node(cluster, key).name != node.name
            problem = "its slot moved to another server during the call" if moved else None
            out.append(_confirm(reply, problem or problems[node.name]))
        return out

    async def _wait_call(self) -> list[Any]:
        if self._version is None:
            versions = [_version(info) for info in (await self._per_server("info", "server"))]
            self._version = min(versions)
        if self._version >= WAITAOF_SINCE:
            return ["WAITAOF", 0, self.min_replicas, self.replica_timeout_ms]
        return ["WAIT", self.min_replicas, self.replica_timeout_ms]

    def _unconfirmed(self, reply: Any) -> str | None:
        """Why a WAIT/WAITAOF reply does not confirm ``min_replicas``, or None."""
        if isinstance(reply, Exception):
            self._version = None  # WAITAOF unknown (an older server after a failover?)
            return f"the wait for replicas failed: {type(reply).__name__}: {reply}"
        count = int(reply[1]) if isinstance(reply, list) else int(reply)
        if count >= self.min_replicas:
            return None
        return (
            f"only {count} of {self.min_replicas} replicas confirmed it "
            f"within {self.replica_timeout_ms} ms"
        )

    async def _per_server(self, method: str, *args: Any) -> list[dict[str, Any]]:
        """``client.<method>(*args)`` on the server, or on every primary of a Cluster."""
        if self._cluster is None:
            return [await getattr(self._client, method)(*args)]
        await self._fresh_map()
        replies = await getattr(self._cluster, method)(*args, target_nodes=RedisCluster.PRIMARIES)
        return list(replies.values())

    async def connect(self) -> None:
        """Check the server answers and load the scripts (optional: calls do it lazily)."""
        with self._unavailable("connect"):
            await self._client.ping()
            await self._load_scripts()

    # -- auctions --------------------------------------------------------------

    async def create(self, auction_id: str, spec: bytes) -> None:
        # The active set first, then meta (they may live in different Cluster
        # slots, so no script can do both). A failure in between leaves an id
        # without meta, which active_auctions() ignores, and a retried create()
        # then completes; the other order would leave an auction that exists
        # but is never recovered, with every retry refused as AuctionExists.
        key = self._key(auction_id, "meta")
        with self._unavailable("create"):
            await self._command("SADD", self._active_key, auction_id)
        if not await self._run(_CREATE, [key], [spec]):
            raise AuctionExists(f"auction {auction_id!r} already exists")

    async def spec(self, auction_id: str) -> bytes | None:
        with self._unavailable("spec"):
            spec = await self._command("HGET", self._key(auction_id, "meta"), "spec")
        return bytes(spec) if spec is not None else None

    async def active_auctions(self) -> list[str]:
        """Ids in the active set whose meta exists and says not finished: a
        create() or finish() interrupted between its steps is harmless."""
        return await self._members("active_auctions", self._active_key, b"0")

    async def finished_auctions(self) -> list[str]:
        """Ids in the finished set whose meta says finished."""
        return await self._members("finished_auctions", self._finished_key, b"1")

    async def _members(self, what: str, key: str, flag: bytes) -> list[str]:
        with self._unavailable(what):
            members = await self._command("SMEMBERS", key)
            ids = sorted(m.decode() for m in members)
            flags = await self._pipeline(
                [["HGET", self._key(auction_id, "meta"), "finished"] for auction_id in ids]
            )
        return [i for i, found in zip(ids, flags, strict=True) if found == flag]

    async def finish(self, auction_id: str) -> None:
        # The finished set first, then the flag, then out of the active set:
        # whichever step is interrupted, the flag decides which list shows it,
        # and a retried finish() completes the rest.
        meta = self._key(auction_id, "meta")
        with self._unavailable("finish"):
            await self._command("SADD", self._finished_key, auction_id)
        if not await self._run(_FINISH, [meta], []):
            with self._unavailable("finish"):
                await self._command("SREM", self._finished_key, auction_id)
            raise _no_auction(auction_id)
        with self._unavailable("finish"):
            await self._command("SREM", self._active_key, auction_id)

    # -- events ----------------------------------------------------------------

    def _append_call(self, append: Append) -> list[Any]:
        keys = [self._key(append.auction_id, p) for p in ("meta", "epoch", "events", "snapshot")]
        has_snapshot = append.snapshot is not None
        return [
            "EVALSHA",
            _APPEND.sha,
            len(keys),
            *keys,
            append.epoch,
            append.first_seq,
            b"1" if has_snapshot else b"0",
            append.snapshot if append.snapshot is not None else b"",
            *append.events,
        ]

    async def _pipeline(self, calls: Sequence[list[Any]]) -> list[Any]:
        """Commands in one round trip; a command's error comes back as its reply."""
        if not calls:
            return []
        await self._fresh_map()
        pipe = self._client.pipeline(transaction=False)
        for call in calls:
            pipe.execute_command(*call)
        replies = list(await pipe.execute(raise_on_error=False))
        self._note_failures(replies)
        return replies

    async def append_batch(self, appends: Sequence[Append]) -> list[JournalError | None]:
        """All appends in one pipeline (one round trip). Each is its own script
        call, so each is atomic on its own; they are not atomic together.

        Raises :class:`JournalUnavailable` when the server cannot be reached;
        an append the reachable server refused (OOM, READONLY) gets a
        :class:`JournalUnavailable` as its own result and wrote nothing.
        """
        if not appends:
            return []
        calls = [self._append_call(a) for a in appends]
        with self._unavailable("append"):
            replies = await self._send(calls, replicated=True)
        results: list[JournalError | None] = []
        for append, reply in zip(appends, replies, strict=True):
            if isinstance(reply, Exception):
                # The server refused this one call (out of memory, a read-only
                # replica after a failover...): the script did not run. Or it
                # ran but too few replicas confirmed it: not acknowledged.
                error = JournalUnavailable(
                    f"redis journal at {self._where}: append to {append.auction_id!r} "
                    + _refusal(reply)
                )
                error.__cause__ = reply
                results.append(error)
                continue
            code, n = int(reply[0]), int(reply[1])
            if code == _OK:
                results.append(None)
            elif code == _STALE:
                results.append(
                    StaleEpoch(
                        f"auction {append.auction_id!r}: epoch {append.epoch} is not "
                        f"the current epoch {n} (fenced)"
                    )
                )
            elif code == _CONFLICT:
                results.append(
                    SequenceConflict(
                        f"auction {append.auction_id!r}: first_seq {append.first_seq}, last {n}"
                    )
                )
            else:
                raise _no_auction(append.auction_id)
        return results

    async def read(self, auction_id: str, after_seq: int = 0) -> list[tuple[int, bytes]]:
        """XRANGE in chunks of :data:`READ_CHUNK`. Appends only add entries past
        the end, so the result is always a gap-free run of the stream."""
        events_key = self._key(auction_id, "events")
        meta_key = self._key(auction_id, "meta")
        start = max(after_seq, 0) + 1
        out: list[tuple[int, bytes]] = []
        with self._unavailable("read"):
            exists, chunk = await self._pipeline(
                [
                    ["EXISTS", meta_key],
                    ["XRANGE", events_key, f"{start}-0", "+", "COUNT", READ_CHUNK],
                ]
            )
            if isinstance(chunk, Exception):
                raise chunk
            if not exists:
                raise _no_auction(auction_id)
            while True:
                out.extend((_seq_of(entry_id), fields[b"e"]) for entry_id, fields in chunk)
                if len(chunk) < READ_CHUNK:
                    return out
                start = out[-1][0] + 1
                chunk = await self._command(
                    "XRANGE", events_key, f"{start}-0", "+", "COUNT", READ_CHUNK
                )

    async def last_seq(self, auction_id: str) -> int:
        with self._unavailable("last_seq"):
            exists, tail = await self._pipeline(
                [
                    ["EXISTS", self._key(auction_id, "meta")],
                    ["XREVRANGE", self._key(auction_id, "events"), "+", "-", "COUNT", 1],
                ]
            )
            if isinstance(tail, Exception):
                raise tail
        if not exists:
            raise _no_auction(auction_id)
        return _seq_of(tail[0][0]) if tail else 0

    async def snapshot(self, auction_id: str) -> Snapshot | None:
        with self._unavailable("snapshot"):
            exists, fields = await self._pipeline(
                [
                    ["EXISTS", self._key(auction_id, "meta")],
                    ["HMGET", self._key(auction_id, "snapshot"), "seq", "data"],
                ]
            )
            if isinstance(fields, Exception):
                raise fields
        if not exists:
            raise _no_auction(auction_id)
        seq, data = fields
        return Snapshot(int(seq), bytes(data)) if seq is not None else None

    # -- the writer's lease ----------------------------------------------------

    async def acquire(self, auction_id: str, owner: str, ttl_ms: int) -> int | None:
        _check_ttl(ttl_ms)
        keys = [self._key(auction_id, p) for p in ("meta", "lease", "epoch")]
        epoch = int(await self._run(_ACQUIRE, keys, [owner, ttl_ms], replicated=True))
        if epoch < 0:
            raise _no_auction(auction_id)
        return epoch or None

    async def steal(self, auction_id: str, owner: str, dead: str, ttl_ms: int) -> int | None:
        """Take the lease of ``dead`` (a node the cluster's registry no longer
        lists): a new epoch, or None if somebody else holds it now. Fenced and
        confirmed like :meth:`acquire` (auction/runtime/bus.py)."""
        _check_ttl(ttl_ms)
        keys = [self._key(auction_id, p) for p in ("meta", "lease", "epoch")]
        epoch = int(await self._run(_STEAL, keys, [owner, dead, ttl_ms], replicated=True))
        if epoch < 0:
            raise _no_auction(auction_id)
        return epoch or None

    async def renew(self, auction_id: str, owner: str, epoch: int, ttl_ms: int) -> bool:
        _check_ttl(ttl_ms)
        keys = [self._key(auction_id, p) for p in ("meta", "lease")]
        renewed = int(await self._run(_RENEW, keys, [owner, epoch, ttl_ms]))
        if renewed < 0:
            raise _no_auction(auction_id)
        return renewed == 1

    async def release(self, auction_id: str, owner: str, epoch: int) -> None:
        keys = [self._key(auction_id, p) for p in ("meta", "lease")]
        if int(await self._run(_RELEASE, keys, [owner, epoch])) < 0:
            raise _no_auction(auction_id)

    # -- the server ------------------------------------------------------------

    async def durability(self) -> dict[str, str]:
        """``redis_version``, ``appendonly``, ``appendfsync`` and the number of
        ``replicas`` as the server (every primary of a Cluster) reports them,
        what survives what, and what an acknowledgement waits for. CONFIG may
        be renamed or denied (managed Redis): then ``config`` says why it is
        unknown."""
        report = {"store": f"{self.name} at {self._where}"}
        with self._unavailable("durability"):
            servers = await self._per_server("info", "server")
            report["redis_version"] = _same(str(i.get("redis_version", "?")) for i in servers)
            replication = await self._per_server("info", "replication")
            report["replicas"] = _same(str(i.get("connected_slaves", 0)) for i in replication)
            report["acknowledged_after"] = (
                f"{self.min_replicas} replica(s) confirm, within {self.replica_timeout_ms} ms"
                if self.min_replicas
                else "the primary alone (min_replicas 0: a failover may lose the last acks)"
            )
            try:
                config: dict[str, str] = {}
                for name in ("appendonly", "appendfsync"):
                    replies = await self._per_server("config_get", name)
                    config[name] = _same(
                        _text(v) for reply in replies for k, v in reply.items() if _text(k) == name
                    )
            except ResponseError as exc:
                report["config"] = f"unavailable: {exc}"
                return report
        report.update(config)
        report["survives"] = _survives(config.get("appendonly"), config.get("appendfsync"))
        return report

    async def close(self) -> None:
        if self._owns_client:
            with self._unavailable("close"):
                await self._client.aclose()
                if self._connection.sentinel is not None:
                    await self._connection.sentinel.aclose()


def _node(cluster: RedisCluster, key: str) -> ClusterNode:
    """The primary that serves ``key``'s slot in the client's slot map."""
    node = cluster.get_node_from_key(key)
    if node is None:  # only asked for replicas; a primary always exists or it raises
        raise SlotNotCoveredError(f"no primary for the slot of {key!r}")
    return node


class _Unconfirmed(Exception):
    """A call that ran on the primary but was not confirmed by enough replicas."""


def _confirm(reply: Any, problem: str | None) -> Any:
    """The reply, or an :class:`_Unconfirmed` when its WAIT did not confirm it."""
    if problem is None or isinstance(reply, Exception):
        return reply
    return _Unconfirmed(f"ran on the primary, but {problem}: not acknowledged")


def _refusal(reply: Exception) -> str:
    if isinstance(reply, _Unconfirmed):
        return str(reply)
    return f"refused: {type(reply).__name__}: {reply}"


def _check_replicas(min_replicas: int, timeout_ms: int, socket_timeout_s: float | None) -> None:
    if not 0 <= min_replicas <= MAX_REPLICAS:
        raise ValueError(f"min_replicas must be 0 to {MAX_REPLICAS}, not {min_replicas}")
    if timeout_ms <= 0:
        raise ValueError(f"replica_timeout_ms must be positive, not {timeout_ms}")
    if min_replicas and socket_timeout_s is not None and timeout_ms >= socket_timeout_s * 1000:
        raise ValueError(
            f"replica_timeout_ms ({timeout_ms}) must be shorter than the reply timeout "
            f"({socket_timeout_s * 1000:.0f} ms), or the socket gives up first"
        )


def _version(info: dict[str, Any]) -> tuple[int, int]:
    """``{"redis_version": "7.0.15"}`` -> (7, 0); unknown -> (0, 0)."""
    major, _, rest = str(info.get("redis_version", "0")).partition(".")
    minor = rest.partition(".")[0]
    return (int(major) if major.isdigit() else 0, int(minor) if minor.isdigit() else 0)


def _same(values: Iterable[str]) -> str:
    """The value every server reports, or ``mixed: a, b``."""
    distinct = sorted(set(values))
    if len(distinct) == 1:
        return distinct[0]
    return "mixed: " + ", ".join(distinct) if distinct else "?"


def _check_ttl(ttl_ms: int) -> None:
    # PEXPIRE with 0 or less deletes the key: a lease that is gone as it is taken.
    if ttl_ms <= 0:
        raise ValueError(f"ttl_ms must be positive, not {ttl_ms}")


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _survives(appendonly: str | None, appendfsync: str | None) -> str:
    if appendonly != "yes":
        return "no AOF: a Redis restart may lose acknowledged events (RDB snapshots only)"
    if appendfsync == "always":
        return "a Redis or machine crash: every acknowledged event is fsynced"
    if appendfsync == "everysec":
        return "a Redis crash; a machine crash may lose about the last second"
    return "a Redis crash; a machine crash may lose what the OS had not flushed"
