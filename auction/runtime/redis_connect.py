"""Connecting the Redis journal from one URL: a server, a Sentinel-watched
master, or a Cluster (redis-py's own clients for each).

URLs::

    redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]      one server (rediss:// for TLS)
    unix://[[USER]:PASSWORD@]PATH[?db=DB]           one server on a Unix socket
    redis+sentinel://[[USER]:PASSWORD@]HOST[:PORT][,HOST[:PORT]...]/MASTER[/DB]
                                                    the master that the sentinels
                                                    (default port 26379) name MASTER
    redis+cluster://[[USER]:PASSWORD@]HOST[:PORT][,HOST[:PORT]...]
                                                    a Cluster, discovered from these
                                                    nodes (default port 6379)

The user and password are the Redis servers' (not the sentinels': sentinels
that require a password are not supported yet). Every client is built with
timeouts on connecting and on every reply, and with **no automatic retries**
(:mod:`auction.runtime.redis` says why). The Sentinel client asks the
sentinels for the master's address whenever it opens a connection, and drops
a connection to a master that was demoted: after a failover the next call
reaches the promoted replica. The Cluster client follows MOVED/ASK redirects
(a refused command, safe to send on) and reloads the slot map after a
connection error.

Errors: :class:`ValueError` for a URL that cannot be understood (its message
names the part that is wrong, never the password).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.cluster import ClusterNode
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff

SENTINEL_PORT = 26379
REDIS_PORT = 6379


@dataclass
class Connection:
    """A client and what the journal needs to know about it."""

    kind: str
    """``redis``, ``redis-sentinel`` or ``redis-cluster`` (the journal's name)."""
    client: Redis | RedisCluster
    """The client every journal call goes through."""
    where: str
    """Where the servers are, for messages (never the password)."""
    sentinel: Sentinel | None = None
    """The sentinels' clients, closed with the journal."""


def _options(timeout_s: float) -> dict[str, Any]:
    return {
        "decode_responses": False,
        "socket_timeout": timeout_s,
        "socket_connect_timeout": timeout_s,
        "retry": Retry(NoBackoff(), 0),
    }


def _split(url: str, scheme: str) -> tuple[str | None, str | None, str, str]:
    """``scheme://[user:password@]hosts[/path]`` -> user, password, hosts, path."""
    rest = url[len(scheme) :]
    if "?" in rest or "#" in rest:
        raise ValueError(f"a {scheme} URL takes no query or fragment")
    hosts, _, path = rest.partition("/")
    user: str | None = None
    password: str | None = None
    if "@" in hosts:
        auth, _, hosts = hosts.rpartition("@")
        name, sep, secret = auth.partition(":")
        user = unquote(name) or None
        password = unquote(secret) if sep else None
    return user, password, hosts, path


def _addresses(hosts: str, default_port: int, scheme: str) -> list[tuple[str, int]]:
    addresses = []
    for item in hosts.split(","):
        host, sep, port = item.strip().rpartition(":")
        if not sep:
            host, port = port, str(default_port)
        host = host.strip("[]")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{scheme} URL: {item.strip() or '(empty)'!r} is not HOST[:PORT]")
        addresses.append((host, int(port)))
    return addresses


def connect(url: str, *, timeout_s: float) -> Connection:
    """Build the client for ``url`` (nothing is contacted until the first call)."""
    options = _options(timeout_s)
    if url.startswith("redis+sentinel://"):
        scheme = "redis+sentinel://"
        user, password, hosts, path = _split(url, scheme)
        sentinels = _addresses(hosts, SENTINEL_PORT, scheme)
        master, _, db = path.partition("/")
        if not master:
            raise ValueError(f"{scheme} URL: name the master: {scheme}HOST:PORT,.../MASTER")
        if db and not db.isdigit():
            raise ValueError(f"{scheme} URL: the database {db!r} is not a number")
        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            sentinels,
            sentinel_kwargs={k: v for k, v in options.items() if k.startswith("socket_")},
        )
        client = sentinel.master_for(
            master, username=user, password=password, db=int(db or 0), **options
        )
        where = f"master {master!r} of sentinels " + ",".join(f"{h}:{p}" for h, p in sentinels)
        return Connection("redis-sentinel", client, where, sentinel)
    if url.startswith("redis+cluster://"):
        scheme = "redis+cluster://"
        user, password, hosts, path = _split(url, scheme)
        if path:
            raise ValueError(f"{scheme} URL: a Cluster has no database number ({path!r})")
        nodes = _addresses(hosts, REDIS_PORT, scheme)
        cluster = RedisCluster(
            startup_nodes=[ClusterNode(h, p) for h, p in nodes],
            username=user,
            password=password,
            **options,
        )
        where = "cluster of " + ",".join(f"{h}:{p}" for h, p in nodes)
        return Connection("redis-cluster", cluster, where)
    client = Redis.from_url(url, retry_on_timeout=False, **options)
    kwargs = client.connection_pool.connection_kwargs
    where = (
        f"{kwargs['host']}:{kwargs.get('port', REDIS_PORT)}"
        if "host" in kwargs
        else str(kwargs.get("path", "?"))
    )
    return Connection("redis", client, where)
