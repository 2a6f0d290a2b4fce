"""An :class:`~client.AuctionClient` for a load test of several nodes.

``underbid swarm``'s bidders and reference streams use it. It is the
asyncio client of :mod:`client.session`, which already goes round the nodes
of its route (``also``) when a connection drops, resumes with
``hello.last_seq`` and resends its commands with their ``bid_id``. On top:

- a bound: a connection that no node took back within ``reconnect_s`` gives
  up (an ordinary client tries for ever), and so does a first connection
  (:meth:`NodeClient.connect_any` tries the route's nodes in turn);
- a refusal that would end an ordinary client while it reconnects (a node
  that does not know the auction yet answers ``auth_failed``) is retried on
  the next node like a dead one, within that bound;
- it remembers when it was dropped (:attr:`NodeClient.dropped_at_ms`) and how
  long each reconnect took (:attr:`NodeClient.reconnect_ms`), for the
  report's reconnect and takeover figures (:func:`account`);
- :meth:`NodeClient.server_now_ms` uses the node's clock offset measured with
  pings when the swarm has one, instead of the estimate smoothed from frames,
  which a busy client biases.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from websockets.asyncio.client import ClientConnection

from client.load.report import RunFigures
from client.session import AuctionClient, ConnectError
from gateway import protocol as p


class NodeClient(AuctionClient):
    def __init__(
        self, route: tuple[str, ...], auction_id: str, *, reconnect_s: float = 30.0, **kw: Any
    ) -> None:
        super().__init__(route[0], auction_id, also=route[1:], **kw)
        self.route = route
        self.reconnect_s = reconnect_s
        self.reconnecting_until: float | None = None
        self.dropped_at_ms: int | None = None
        """Wall clock of the latest drop."""
        self.drops = 0
        self.reconnect_ms: list[float] = []
        """How long each successful reconnect took."""
        self.reconnect_failures = 0
        self.offsets: dict[str, float] = {}
        """Node URL -> its clock minus ours (ms), measured with pings."""

    @property
    def node(self) -> str:
        """The URL of the node connected to (or tried next)."""
        return self.route[self.urls.index(self.url)]

    def server_now_ms(self) -> int:
        offset = self.offsets.get(self.node)
        if offset is None:
            return super().server_now_ms()
        return int(time.time() * 1000 + offset)

    async def connect_any(self) -> p.Welcome:
        """Connect to the first node of the route that answers (within ``reconnect_s``)."""
        deadline = time.monotonic() + self.reconnect_s
        delay = self.min_backoff_s
        while True:
            try:
                return await self.connect()
            except ConnectError as exc:
                refused = exc.status is not None and exc.status < 500
                if refused or time.monotonic() > deadline:
                    raise
                self._next_node()
                await asyncio.sleep(delay)
                delay = min(self.max_backoff_s, delay * 2)

    async def _reconnect(self) -> ClientConnection | None:
        self.drops += 1
        self.dropped_at_ms = int(time.time() * 1000)
        dropped = time.perf_counter()
        self.reconnecting_until = time.monotonic() + self.reconnect_s
        try:
            ws = await super()._reconnect()
        finally:
            self.reconnecting_until = None
        if ws is None:
            if not self._closing:
                self.reconnect_failures += 1
        else:
            self.reconnect_ms.append((time.perf_counter() - dropped) * 1000)
        return ws

    async def _open(self) -> tuple[ClientConnection, p.Welcome, bool]:
        until = self.reconnecting_until
        if until is not None and time.monotonic() > until:
            raise ConnectError(
                "gave_up",
                f"no node took the connection back within {self.reconnect_s:g} s",
                status=400,
            )
        try:
            return await super()._open()
        except ConnectError as exc:
            if until is not None and exc.terminal:
                raise ConnectError(exc.code, exc.message) from None  # retried: another node
            raise


def account(client: AuctionClient, figures: RunFigures, resumed: bool = True) -> None:
    """File a client's reconnects (and, with ``resumed``, its resumed streams) in ``figures``."""
    if not isinstance(client, NodeClient):
        return
    now = time.time() * 1000
    for ms in client.reconnect_ms:
        figures.sample("reconnect", now, ms)
    figures.count("reconnects", len(client.reconnect_ms))
    if resumed:
        figures.count("resumed", len(client.reconnect_ms))
    figures.count("reconnect_failures", client.reconnect_failures)


__all__ = ["NodeClient", "account"]
