"""The cluster's shared keys on Redis: who is alive, what happened, who asks what.

Every node of a cluster talks to the others only through Redis, with keys that
each live in one Cluster slot (no command ever spans two)::

    P:owners            sorted set: node id -> the Redis time (ms) its
                        registration lapses; only nodes that may own auctions
                        (one whose clock is off is not listed)
    P:feed              stream: notices ``k`` (kind), ``a`` (auction), ``s``
                        (seq), ``n`` (node), ``e`` (epoch): ``appended``,
                        ``created``, ``acquired``, ``released``, ``finished``
    P:inbox:{node}      stream: the commands forwarded to that node and the
                        answers sent back to it (MessagePack in ``m``)
    P:{id}:lease        the auction's lease (owner, epoch) and
    P:{id}:epoch        its fencing counter, as in auction/runtime/redis.py

What is guaranteed, and by whom:

- **Liveness is Redis's clock.** :meth:`RedisBus.heartbeat` is one script on
  ``P:owners``: it drops the registrations that lapsed by Redis's own
  ``TIME``, renews this node's (or removes it, when it may not own), and
  returns the time and the live nodes. Nodes never compare their own clocks.
- **The feed is a hint, the journal is the truth.** A notice says that
  something happened (events appended up to a seq, a lease acquired or
  released); a node acts on it by reading the journal. A lost notice costs
  latency (a periodic check finds what it missed), a spurious one nothing.
- **A steal is fenced.** :meth:`~auction.runtime.redis.RedisJournal.steal`
  takes an auction's lease from a node the registry no longer lists
  (:meth:`RedisBus.registered` asks just before: a node's own list of the live
  is as old as its last heartbeat), by
  incrementing the epoch in the same script (confirmed by ``min_replicas``
  replicas, like any acquisition); if that node was only slow, not dead, its
  next append is refused by the journal's own epoch check.
- **Inboxes are bounded** (``MAXLEN ~``) and expire with their node.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

from redis.exceptions import NoScriptError, RedisError

from auction.runtime.journal import JournalUnavailable

FEED_MAXLEN: Final = 100_000
"""Notices kept in the feed (a node that falls this far behind checks every auction)."""
INBOX_MAXLEN: Final = 100_000
"""Messages kept in one node's inbox."""
INBOX_TTL_MS: Final = 60_000
"""An inbox outlives its node's last heartbeat by this much, then goes."""


class _Script:
    def __init__(self, name: str, source: str) -> None:
        self.name = name
        self.source = source.encode()
        self.sha = hashlib.sha1(self.source, usedforsecurity=False).hexdigest()


# KEYS: owners | ARGV: node, ttl_ms, eligible ('1' or '0')
# Reply: {now_ms, node, node, ...} (the live nodes after this heartbeat)
_HEARTBEAT = _Script(
    "heartbeat",
    """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if ARGV[3] == '1' then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
else
  redis.call('ZREM', KEYS[1], ARGV[1])
end
local live = redis.call('ZRANGE', KEYS[1], 0, -1)
table.insert(live, 1, tostring(now))
return live
""",
)

# KEYS: owners | ARGV: node, node, ... | Reply: those whose registration has
# not lapsed by Redis's TIME
_REGISTERED = _Script(
    "registered",
    """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
for _, node in ipairs(ARGV) do
  local lapses = redis.call('ZSCORE', KEYS[1], node)
  if lapses and tonumber(lapses) > now then table.insert(out, node) end
end
return out
""",
)

_SCRIPTS = (_HEARTBEAT, _REGISTERED)


@dataclass(frozen=True, slots=True)
class Notice:
    """One entry of the feed."""

    kind: str
    """``appended``, ``created``, ``acquired``, ``released`` or ``finished``."""
    auction: str
    seq: int = 0
    """``appended``: the last seq now in the journal."""
    node: str = ""
    """Who did it (``acquired``, ``released``)."""
    epoch: int = 0
    """``acquired``: the epoch the node now writes with."""


@dataclass(frozen=True, slots=True)
class Owner:
    """An auction's lease as it stands."""

    node: str
    epoch: int


class RedisBus:
    """The cluster's keys (see the module docstring) on a redis-py asyncio client.

    The client is the journal's (or one built the same way): no automatic
    retries, a timeout on every reply. Every failure is raised as
    :class:`~auction.runtime.journal.JournalUnavailable`.
    """

    def __init__(self, client: Any, *, prefix: str = "ub", node_ttl_ms: int = 1_000) -> None:
        self._client = client
        """A redis.asyncio client (Redis or RedisCluster), ``decode_responses=False``."""
        self._prefix = prefix
        self.node_ttl_ms = node_ttl_ms
        """A node that has not renewed its registration for this long is dead."""

    # -- keys ------------------------------------------------------------------
    @property
    def owners_key(self) -> str:
        return f"{self._prefix}:owners"

    @property
    def feed_key(self) -> str:
        return f"{self._prefix}:feed"

    def inbox_key(self, node: str) -> str:
        return f"{self._prefix}:inbox:{{{node}}}"

    def _key(self, auction_id: str, part: str) -> str:
        return f"{self._prefix}:{{{auction_id}}}:{part}"

    # -- plumbing --------------------------------------------------------------
    @contextmanager
    def _unavailable(self, what: str) -> Iterator[None]:
        try:
            yield
        except (RedisError, OSError) as exc:
            raise JournalUnavailable(f"cluster bus: {what} failed: {type(exc).__name__}") from exc

    async def _command(self, *args: Any) -> Any:
        return await self._client.execute_command(*args)

    async def _run(self, script: _Script, keys: Sequence[str], args: Sequence[Any]) -> Any:
        with self._unavailable(script.name):
            try:
                return await self._command("EVALSHA", script.sha, len(keys), *keys, *args)
            except NoScriptError:
                for each in _SCRIPTS:
                    await self._client.script_load(each.source)
                return await self._command("EVALSHA", script.sha, len(keys), *keys, *args)

    async def _pipeline(self, calls: Sequence[list[Any]]) -> list[Any]:
        if not calls:
            return []
        with self._unavailable("pipeline"):
            pipe = self._client.pipeline(transaction=False)
            for call in calls:
                pipe.execute_command(*call)
            return list(await pipe.execute(raise_on_error=False))

    # -- nodes -----------------------------------------------------------------
    async def heartbeat(self, node: str, *, eligible: bool) -> tuple[int, list[str]]:
        """Renew (or drop) this node's registration; (Redis time in ms, live nodes)."""
        reply = await self._run(
            _HEARTBEAT, [self.owners_key], [node, self.node_ttl_ms, b"1" if eligible else b"0"]
        )
        now = int(reply[0])
        live = sorted(m.decode() if isinstance(m, bytes) else str(m) for m in reply[1:])
        with self._unavailable("inbox expiry"):
            await self._command("PEXPIRE", self.inbox_key(node), INBOX_TTL_MS)
        return now, live

    async def registered(self, nodes: Sequence[str]) -> set[str]:
        """Which of ``nodes`` are registered now, by Redis's clock: asked before
        a steal, since a node's list of the live is as old as its last
        heartbeat (a node that joined since is not on it, and is not dead)."""
        if not nodes:
            return set()
        reply = await self._run(_REGISTERED, [self.owners_key], list(nodes))
        return {bytes(n).decode() for n in reply}

    async def leave(self, node: str) -> None:
        """Unregister at once (a node stopping on purpose)."""
        with self._unavailable("leave"):
            await self._command("ZREM", self.owners_key, node)

    async def time_ms(self) -> int:
        with self._unavailable("time"):
            seconds, micros = await self._command("TIME")
        return int(seconds) * 1000 + int(micros) // 1000

    # -- leases ----------------------------------------------------------------
    async def owners(self, auction_ids: Sequence[str]) -> dict[str, Owner | None]:
        """Each auction's lease holder (None: the lease is free)."""
        replies = await self._pipeline(
            [["HMGET", self._key(a, "lease"), "owner", "epoch"] for a in auction_ids]
        )
        out: dict[str, Owner | None] = {}
        for auction_id, reply in zip(auction_ids, replies, strict=True):
            if isinstance(reply, Exception) or reply[0] is None:
                out[auction_id] = None
            else:
                out[auction_id] = Owner(reply[0].decode(), int(reply[1] or 0))
        return out

    # -- the feed --------------------------------------------------------------
    async def feed_tip(self) -> bytes:
        """The id of the feed's newest entry (``0-0`` when empty): read after it."""
        with self._unavailable("feed tip"):
            last = await self._command("XREVRANGE", self.feed_key, "+", "-", "COUNT", 1)
        return bytes(last[0][0]) if last else b"0-0"

    async def read_feed(
        self, after: bytes, *, block_ms: int, count: int = 10_000
    ) -> tuple[bytes, list[Notice]]:
        """Notices after the entry ``after``, waiting up to ``block_ms`` for some;
        returns the id to read after next time, and the notices."""
        with self._unavailable("feed read"):
            reply = await self._command(
                "XREAD", "COUNT", count, "BLOCK", block_ms, "STREAMS", self.feed_key, after
            )
        if not reply:
            return after, []
        entries = _stream_entries(reply)
        notices = []
        for _, fields in entries:
            notices.append(
                Notice(
                    kind=fields[b"k"].decode(),
                    auction=fields[b"a"].decode(),
                    seq=int(fields[b"s"]),
                    node=fields[b"n"].decode(),
                    epoch=int(fields[b"e"]),
                )
            )
        return bytes(entries[-1][0]), notices

    # -- inboxes ---------------------------------------------------------------
    async def post(
        self, messages: Sequence[tuple[str, bytes]], notices: Sequence[Notice] = ()
    ) -> None:
        """(node, payload) pairs into those nodes' inboxes, then notices into the
        feed, all in one round trip (a pipeline, in order: an answer is never
        behind a notice of the same batch)."""
        inbox = [
            ["XADD", self.inbox_key(node), "MAXLEN", "~", INBOX_MAXLEN, "*", "m", payload]
            for node, payload in messages
        ]
        feed = [
            ["XADD", self.feed_key, "MAXLEN", "~", FEED_MAXLEN, "*", *_fields(n)] for n in notices
        ]
        await self._pipeline(inbox + feed)

    async def receive(
        self, node: str, after: bytes, *, block_ms: int, count: int = 10_000
    ) -> tuple[bytes, list[bytes]]:
        """Messages of this node's inbox after ``after`` (``$``: only new ones)."""
        with self._unavailable("inbox read"):
            reply = await self._command(
                "XREAD", "COUNT", count, "BLOCK", block_ms, "STREAMS", self.inbox_key(node), after
            )
        if not reply:
            return after, []
        entries = _stream_entries(reply)
        return bytes(entries[-1][0]), [fields[b"m"] for _, fields in entries]

    # -- the journal, many auctions at once -----------------------------------
    async def tails(self, after: Mapping[str, int]) -> dict[str, list[tuple[int, bytes]]]:
        """Each auction's events after its seq, in one round trip (then chunks)."""
        ids = list(after)
        replies = await self._pipeline(
            [
                ["XRANGE", self._key(a, "events"), f"{after[a] + 1}-0", "+", "COUNT", 10_000]
                for a in ids
            ]
        )
        out: dict[str, list[tuple[int, bytes]]] = {}
        for auction_id, reply in zip(ids, replies, strict=True):
            if isinstance(reply, Exception):
                raise JournalUnavailable(f"cluster bus: tail of {auction_id!r}: {reply}")
            out[auction_id] = [(_seq_of(entry), fields[b"e"]) for entry, fields in reply]
        return out

    async def last_seqs(self, auction_ids: Sequence[str]) -> dict[str, int]:
        replies = await self._pipeline(
            [["XREVRANGE", self._key(a, "events"), "+", "-", "COUNT", 1] for a in auction_ids]
        )
        out: dict[str, int] = {}
        for auction_id, reply in zip(auction_ids, replies, strict=True):
            if isinstance(reply, Exception):
                raise JournalUnavailable(f"cluster bus: last seq of {auction_id!r}: {reply}")
            out[auction_id] = _seq_of(reply[0][0]) if reply else 0
        return out


def _stream_entries(reply: Any) -> list[tuple[Any, dict[bytes, bytes]]]:
    """XREAD's reply for one stream, in both RESP2 shapes redis-py returns."""
    if isinstance(reply, dict):  # RESP3
        (entries,) = reply.values()
        return list(entries[0] if entries and isinstance(entries[0], list) else entries)
    ((_, entries),) = reply
    return list(entries)


def _fields(n: Notice) -> list[Any]:
    """A notice as a feed entry's fields (read back by :meth:`RedisBus.read_feed`)."""
    return ["k", n.kind, "a", n.auction, "s", n.seq, "n", n.node, "e", n.epoch]


def _seq_of(entry_id: bytes) -> int:
    return int(bytes(entry_id).partition(b"-")[0])
