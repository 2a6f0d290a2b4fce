"""The Redis journal: one Redis Stream per auction, fenced by an epoch.

Key layout (``P`` is the prefix, ``ub`` by default; ``{id}`` is a Redis Cluster
hash tag, so every key of one auction lives in one slot and one script may
touch them all)::

    P:{id}:events     stream: entry id ``<seq>-0``, one field ``e`` = event bytes
    P:{id}:meta       hash: ``spec`` (bytes as given), ``finished`` (0 or 1)
    P:{id}:epoch      string: the fencing counter; INCR on every acquire; no TTL
    P:{id}:lease      hash: ``owner``, ``epoch``; PEXPIRE ttl
    P:{id}:snapshot   hash: ``seq``, ``data``
    P:auctions:active set of the ids created and not finished (no hash tag;
                      touched by create() and finish() only, never by a script)

What is guaranteed, and by whom:

- **Fencing is done by Redis, not by the caller.** The append is one Lua script
  that compares the append's epoch with the ``epoch`` key and the first seq
  with the stream's last entry, and only then XADDs the events and HSETs the
  snapshot. A script runs atomically, so a writer fenced by a newer
  :meth:`~RedisJournal.acquire` can write neither events nor a snapshot, and an
  append that is refused writes nothing.
- **Group commit.** :meth:`~RedisJournal.append_batch` sends every append of the
  batch as EVALSHA calls in one pipeline: one round trip, and with
  ``appendfsync always`` one fsync, for the whole batch.
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

Durability is whatever the server is configured for (see
:meth:`~RedisJournal.durability`): ``appendonly yes`` with ``appendfsync
always`` survives a machine crash; ``everysec`` survives a Redis crash and
loses at most about a second on a machine crash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError, RedisError, ResponseError

from auction.runtime.journal import (
    Append,
    AuctionExists,
    JournalError,
    JournalUnavailable,
    SequenceConflict,
    Snapshot,
    StaleEpoch,
)

READ_CHUNK = 10_000
"""Stream entries fetched per XRANGE call by :meth:`RedisJournal.read`."""

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

_SCRIPTS = (_CREATE, _FINISH, _APPEND, _ACQUIRE, _RENEW, _RELEASE)


def _no_auction(auction_id: str) -> KeyError:
    return KeyError(f"no auction {auction_id!r} in the journal")


def _seq_of(entry_id: bytes) -> int:
    """``b"42-0"`` -> 42."""
    return int(entry_id.partition(b"-")[0])


class RedisJournal:
    """Journal on a Redis server (or a Cluster: every auction's keys share a slot).

    ``timeout_s`` bounds connecting and every reply: past it the call raises
    :class:`JournalUnavailable`. ``prefix`` namespaces the keys, so several
    deployments (or test runs) can share one server.
    """

    name = "redis"

    def __init__(self, url: str, *, prefix: str = "ub", timeout_s: float = 2.0) -> None:
        client = Redis.from_url(
            url,
            decode_responses=False,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
            retry_on_timeout=False,
        )
        self._setup(client, prefix, owns_client=True)

    @classmethod
    def from_client(cls, client: Redis, *, prefix: str = "ub") -> RedisJournal:
        """Use a client built elsewhere (it must have ``decode_responses=False``).

        The caller keeps ownership: :meth:`close` leaves it open. Its retry
        policy is the caller's choice; the constructor's is none (see the
        module docstring for why).
        """
        journal = cls.__new__(cls)
        journal._setup(client, prefix, owns_client=False)
        return journal

    def _setup(self, client: Redis, prefix: str, *, owns_client: bool) -> None:
        if not prefix or "{" in prefix or "}" in prefix:
            raise ValueError(f"prefix {prefix!r} must be non-empty and free of braces")
        self._client = client
        """The redis.asyncio client (a pool of connections)."""
        self._prefix = prefix
        """First part of every key."""
        self._owns_client = owns_client
        """Whether :meth:`close` closes the client."""
        kwargs = client.connection_pool.connection_kwargs
        self._where = (
            f"{kwargs['host']}:{kwargs.get('port', 6379)}"
            if "host" in kwargs
            else str(kwargs.get("path", "?"))
        )
        """Where the server is, for messages (never the URL: it may hold a password)."""

    @property
    def client(self) -> Redis:
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

    # -- plumbing --------------------------------------------------------------

    @contextmanager
    def _unavailable(self, what: str) -> Iterator[None]:
        """Turn every redis-py and socket error into :class:`JournalUnavailable`."""
        try:
            yield
        except (RedisError, OSError) as exc:
            raise JournalUnavailable(
                f"redis journal at {self._where}: {what} failed: {type(exc).__name__}: {exc}"
            ) from exc

    async def _command(self, *args: Any) -> Any:
        """One command (redis-py leaves ``execute_command`` untyped)."""
        return await self._client.execute_command(*args)  # type: ignore[no-untyped-call]

    async def _load_scripts(self) -> None:
        for script in _SCRIPTS:
            await self._client.script_load(script.source)

    async def _run(self, script: _Script, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """EVALSHA, loading the scripts once if the server lost them (a restart)."""
        with self._unavailable(script.name):
            try:
                return await self._command("EVALSHA", script.sha, len(keys), *keys, *args)
            except NoScriptError:
                await self._load_scripts()
                return await self._command("EVALSHA", script.sha, len(keys), *keys, *args)

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
        create() or finish() interrupted between its two steps is harmless."""
        with self._unavailable("active_auctions"):
            members = await self._command("SMEMBERS", self._active_key)
            ids = sorted(m.decode() for m in members)
            flags = await self._pipeline(
                [["HGET", self._key(auction_id, "meta"), "finished"] for auction_id in ids]
            )
        return [i for i, flag in zip(ids, flags, strict=True) if flag == b"0"]

    async def finish(self, auction_id: str) -> None:
        if not await self._run(_FINISH, [self._key(auction_id, "meta")], []):
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
        pipe = self._client.pipeline(transaction=False)
        for call in calls:
            pipe.execute_command(*call)
        return list(await pipe.execute(raise_on_error=False))

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
            replies = await self._pipeline(calls)
            missing = [i for i, r in enumerate(replies) if isinstance(r, NoScriptError)]
            if missing:
                # NOSCRIPT means the call did not run: safe to send again, in order.
                await self._load_scripts()
                again = await self._pipeline([calls[i] for i in missing])
                for i, reply in zip(missing, again, strict=True):
                    replies[i] = reply
        results: list[JournalError | None] = []
        for append, reply in zip(appends, replies, strict=True):
            if isinstance(reply, Exception):
                # The server refused this one call (out of memory, a read-only
                # replica after a failover...): the script did not run.
                error = JournalUnavailable(
                    f"redis journal at {self._where}: append to {append.auction_id!r} "
                    f"refused: {type(reply).__name__}: {reply}"
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
        epoch = int(await self._run(_ACQUIRE, keys, [owner, ttl_ms]))
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
        """``appendonly``, ``appendfsync`` and ``redis_version`` as the server
        reports them, plus what survives what. CONFIG may be renamed or denied
        (managed Redis): then ``config`` says why it is unknown."""
        report = {"store": f"redis at {self._where}"}
        with self._unavailable("durability"):
            info = await self._client.info("server")
            report["redis_version"] = str(info.get("redis_version", "?"))
            try:
                config: dict[str, str] = {}
                for name in ("appendonly", "appendfsync"):
                    reply = await self._client.config_get(name)
                    config.update({_text(k): _text(v) for k, v in reply.items()})
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
