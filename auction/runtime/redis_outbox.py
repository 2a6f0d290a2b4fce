"""The outbox in Redis, beside the Redis journal (:mod:`auction.runtime.outbox`).

Key layout (``P`` is the prefix, ``ub`` by default). Every key carries the hash
tag ``{outbox}``, so the whole outbox lives in **one slot**: on a Redis Cluster
each script below runs on one node, atomically, over keys of that slot::

    P:{outbox}:d:<delivery id>   hash: message_id, endpoint, kind, payload,
                                 created_at, due_at, attempts, last_error,
                                 state, finished_at, owner, lease_until
    P:{outbox}:due:<endpoint>    sorted set: pending ids by when they may be
                                 claimed (due_at, or the end of a live lease)
    P:{outbox}:done:<endpoint>   sorted set: delivered and dead ids by when
                                 they finished (the oldest beyond MAX_KEPT are
                                 deleted with their hashes)
    P:{outbox}:ep:<endpoint>     hash: delivered, dead (counts), disabled
                                 (the reason, empty when enabled), disabled_at

What is guaranteed, and by whom: a claim is one script, so two nodes
claiming at the same moment get disjoint deliveries; a claimed delivery's
score moves to the end of its lease, so it is claimable again only once the
lease lapses; a result (retry, dead) from a node whose lease was lost is
refused by the script. Scripts build the item keys from the prefix inside
Lua; they share the declared keys' hash tag, hence their slot.

The client is the journal's kind (:func:`auction.runtime.redis_connect.connect`:
one server, a Sentinel-watched master, or a Cluster). Every redis-py or socket error becomes
:class:`~auction.runtime.journal.JournalUnavailable`; the client makes no
retries of its own (see :mod:`auction.runtime.redis` for why).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from redis.exceptions import RedisError

from auction.runtime.journal import JournalUnavailable
from auction.runtime.outbox import (
    DEAD,
    DELIVERED,
    MAX_ERROR_CHARS,
    MAX_KEPT,
    PENDING,
    Delivery,
    EndpointStats,
    State,
)
from auction.runtime.redis_connect import connect

_ADD = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'message_id', ARGV[1], 'endpoint', ARGV[2], 'kind', ARGV[3],
  'payload', ARGV[4], 'created_at', ARGV[5], 'due_at', ARGV[6], 'attempts', 0,
  'last_error', '', 'state', 'pending', 'finished_at', 0, 'owner', '', 'lease_until', 0)
redis.call('ZADD', KEYS[2], ARGV[6], ARGV[7])
return 1
"""

# KEYS: due:e1, ep:e1, due:e2, ep:e2, ... | ARGV: now, lease_until, owner, limit, item prefix
_CLAIM = """
local now, lease_until, owner, left, prefix = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local candidates = {}
for i = 1, #KEYS, 2 do
  local disabled = redis.call('HGET', KEYS[i + 1], 'disabled')
  if (not disabled) or disabled == '' then
    local ids = redis.call('ZRANGEBYSCORE', KEYS[i], '-inf', now, 'WITHSCORES', 'LIMIT', 0, left)
    for j = 1, #ids, 2 do
      table.insert(candidates, {ids[j], tonumber(ids[j + 1]), KEYS[i]})
    end
  end
end
table.sort(candidates, function(a, b)
  if a[2] == b[2] then return a[1] < b[1] end
  return a[2] < b[2]
end)
local out = {}
for k = 1, math.min(left, #candidates) do
  local id, due = candidates[k][1], candidates[k][3]
  redis.call('ZADD', due, lease_until, id)
  redis.call('HSET', prefix .. id, 'owner', owner, 'lease_until', lease_until)
  table.insert(out, redis.call('HGETALL', prefix .. id))
end
return out
"""

# KEYS: item, due, done, ep | ARGV: state, now, error, owner ('' = any), max kept, prefix, id
_FINISH = """
if redis.call('HGET', KEYS[1], 'state') ~= 'pending' then return 0 end
if ARGV[4] ~= '' and redis.call('HGET', KEYS[1], 'owner') ~= ARGV[4] then return 0 end
redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'finished_at', ARGV[2], 'last_error', ARGV[3],
  'owner', '', 'lease_until', 0)
redis.call('ZREM', KEYS[2], ARGV[7])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[7])
redis.call('HINCRBY', KEYS[4], ARGV[1], 1)
local extra = redis.call('ZCARD', KEYS[3]) - tonumber(ARGV[5])
if extra > 0 then
  for _, old in ipairs(redis.call('ZRANGE', KEYS[3], 0, extra - 1)) do
    redis.call('DEL', ARGV[6] .. old)
  end
  redis.call('ZREMRANGEBYRANK', KEYS[3], 0, extra - 1)
end
return 1
"""

# KEYS: item, due | ARGV: owner, due_at, error, id
_RETRY = """
if redis.call('HGET', KEYS[1], 'state') ~= 'pending' then return 0 end
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('HSET', KEYS[1], 'due_at', ARGV[2], 'last_error', ARGV[3], 'owner', '', 'lease_until', 0)
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[4])
return 1
"""

# KEYS: ep | ARGV: reason, now
_DISABLE = """
local disabled = redis.call('HGET', KEYS[1], 'disabled')
if (not disabled) or disabled == '' then
  redis.call('HSET', KEYS[1], 'disabled', ARGV[1], 'disabled_at', ARGV[2])
end
return 1
"""

# KEYS: ep
_ENABLE = """
local disabled = redis.call('HGET', KEYS[1], 'disabled')
redis.call('HSET', KEYS[1], 'disabled', '', 'disabled_at', 0)
if (not disabled) or disabled == '' then return 0 end
return 1
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _delivery(flat: Sequence[Any] | dict[Any, Any]) -> Delivery:
    if isinstance(flat, dict):
        fields = {_text(k): v for k, v in flat.items()}
    else:
        fields = {_text(flat[i]): flat[i + 1] for i in range(0, len(flat), 2)}
    message_id, endpoint = _text(fields["message_id"]), _text(fields["endpoint"])
    state = _text(fields["state"])
    return Delivery(
        id=f"{message_id}:{endpoint}",
        message_id=message_id,
        endpoint=endpoint,
        kind=_text(fields["kind"]),
        payload=bytes(fields["payload"]),
        created_at=int(fields["created_at"]),
        due_at=int(fields["due_at"]),
        attempts=int(fields["attempts"]),
        last_error=_text(fields["last_error"]),
        state=state if state in (PENDING, DELIVERED, DEAD) else PENDING,  # type: ignore[arg-type]
        finished_at=int(fields["finished_at"]),
    )


class RedisOutbox:
    """The outbox on a Redis server or Cluster (one slot). ``timeout_s`` bounds
    every call; ``prefix`` namespaces the keys (the journal's prefix by default)."""

    name = "redis"

    def __init__(self, url: str, *, prefix: str = "ub", timeout_s: float = 2.0) -> None:
        """``url`` as the journal takes it: ``redis://``, ``rediss://``, ``unix://``,
        ``redis+sentinel://`` or ``redis+cluster://`` (:mod:`auction.runtime.redis_connect`)."""
        connection = connect(url, timeout_s=timeout_s)
        self._setup(connection.client, prefix, owns_client=True, sentinel=connection.sentinel)

    @classmethod
    def from_client(cls, client: Any, *, prefix: str = "ub") -> RedisOutbox:
        """Use a client built elsewhere (``Redis`` or ``RedisCluster``, with
        ``decode_responses=False``); the caller keeps ownership."""
        outbox = cls.__new__(cls)
        outbox._setup(client, prefix, owns_client=False)
        return outbox

    def _setup(self, client: Any, prefix: str, *, owns_client: bool, sentinel: Any = None) -> None:
        if not prefix or "{" in prefix or "}" in prefix:
            raise ValueError(f"prefix {prefix!r} must be non-empty and free of braces")
        self._client = client
        self._owns_client = owns_client
        self._sentinel = sentinel
        """The sentinels' clients (closed with the outbox), for a Sentinel URL."""
        self._base = f"{prefix}:{{outbox}}:"
        """Every key starts so: one hash tag, one slot."""
        self._add = client.register_script(_ADD)
        self._claim = client.register_script(_CLAIM)
        self._finish_script = client.register_script(_FINISH)
        self._retry = client.register_script(_RETRY)
        self._disable = client.register_script(_DISABLE)
        self._enable = client.register_script(_ENABLE)

    # -- keys ------------------------------------------------------------------
    def _item(self, delivery_id: str) -> str:
        if "{" in delivery_id or "}" in delivery_id:
            raise ValueError(f"delivery id {delivery_id!r} must be free of braces")
        return f"{self._base}d:{delivery_id}"

    def _due(self, endpoint: str) -> str:
        return f"{self._base}due:{endpoint}"

    def _done(self, endpoint: str) -> str:
        return f"{self._base}done:{endpoint}"

    def _ep(self, endpoint: str) -> str:
        return f"{self._base}ep:{endpoint}"

    def keys_of(self, delivery: Delivery) -> list[str]:
        """Every key a delivery touches (the tests check they share one slot)."""
        e = delivery.endpoint
        return [self._item(delivery.id), self._due(e), self._done(e), self._ep(e)]

    @contextmanager
    def _unavailable(self, what: str) -> Iterator[None]:
        try:
            yield
        except (RedisError, OSError) as exc:
            raise JournalUnavailable(
                f"redis outbox: {what} failed: {type(exc).__name__}: {exc}"
            ) from exc

    # -- the interface ---------------------------------------------------------
    async def add(self, deliveries: Sequence[Delivery]) -> int:
        added = 0
        with self._unavailable("add"):
            for d in deliveries:
                added += int(
                    await self._add(
                        keys=[self._item(d.id), self._due(d.endpoint)],
                        args=[
                            d.message_id,
                            d.endpoint,
                            d.kind,
                            d.payload,
                            d.created_at,
                            d.due_at,
                            d.id,
                        ],
                    )
                )
        return added

    async def claim(
        self, owner: str, *, now: int, lease_ms: int, limit: int, endpoints: Sequence[str]
    ) -> list[Delivery]:
        if not endpoints or limit <= 0:
            return []
        keys: list[str] = []
        for endpoint in endpoints:
            keys += [self._due(endpoint), self._ep(endpoint)]
        with self._unavailable("claim"):
            rows = await self._claim(
                keys=keys, args=[now, now + lease_ms, owner, limit, f"{self._base}d:"]
            )
        return [_delivery(row) for row in rows]

    async def _finish(
        self, delivery_id: str, state: State, *, owner: str, error: str, now: int
    ) -> bool:
        current = await self.get(delivery_id)
        if current is None:
            return False
        e = current.endpoint
        with self._unavailable(state):
            done = await self._finish_script(
                keys=[self._item(delivery_id), self._due(e), self._done(e), self._ep(e)],
                args=[
                    state,
                    now,
                    error[:MAX_ERROR_CHARS],
                    owner,
                    MAX_KEPT,
                    f"{self._base}d:",
                    delivery_id,
                ],
            )
        return bool(done)

    async def delivered(self, delivery_id: str, *, now: int) -> None:
        await self._finish(delivery_id, DELIVERED, owner="", error="", now=now)

    async def retry(
        self, delivery_id: str, owner: str, *, due_at: int, error: str, now: int
    ) -> bool:
        current = await self.get(delivery_id)
        if current is None:
            return False
        with self._unavailable("retry"):
            done = await self._retry(
                keys=[self._item(delivery_id), self._due(current.endpoint)],
                args=[owner, due_at, error[:MAX_ERROR_CHARS], delivery_id],
            )
        return bool(done)

    async def dead(self, delivery_id: str, owner: str, *, error: str, now: int) -> bool:
        return await self._finish(delivery_id, DEAD, owner=owner, error=error, now=now)

    async def disable(self, endpoint: str, *, reason: str, now: int) -> None:
        with self._unavailable("disable"):
            await self._disable(
                keys=[self._ep(endpoint)], args=[reason[:MAX_ERROR_CHARS] or "disabled", now]
            )

    async def enable(self, endpoint: str) -> bool:
        with self._unavailable("enable"):
            return bool(await self._enable(keys=[self._ep(endpoint)], args=[]))

    async def stats(self, endpoints: Sequence[str]) -> dict[str, EndpointStats]:
        out: dict[str, EndpointStats] = {}
        with self._unavailable("stats"):
            for endpoint in endpoints:
                pending = await self._client.zcard(self._due(endpoint))
                fields = await self._client.hmget(
                    self._ep(endpoint), ["delivered", "dead", "disabled", "disabled_at"]
                )
                delivered, dead, disabled, disabled_at = fields
                out[endpoint] = EndpointStats(
                    pending=int(pending),
                    delivered=int(delivered or 0),
                    dead=int(dead or 0),
                    disabled=_text(disabled) if disabled else "",
                    disabled_at=int(disabled_at or 0),
                )
        return out

    async def recent(self, endpoint: str, state: State, limit: int) -> list[Delivery]:
        key = self._due(endpoint) if state == PENDING else self._done(endpoint)
        out: list[Delivery] = []
        with self._unavailable("recent"):
            ids = await self._client.zrevrange(key, 0, MAX_KEPT)
            for raw_id in ids:
                fields = await self._client.hgetall(self._item(_text(raw_id)))
                if fields:
                    delivery = _delivery(fields)
                    if delivery.state == state:
                        out.append(delivery)
                if len(out) >= limit:
                    break
        return out

    async def get(self, delivery_id: str) -> Delivery | None:
        with self._unavailable("get"):
            fields = await self._client.hgetall(self._item(delivery_id))
        return _delivery(fields) if fields else None

    async def close(self) -> None:
        if self._owns_client:
            with self._unavailable("close"):
                await self._client.aclose()
                if self._sentinel is not None:
                    await self._sentinel.aclose()
