"""An asyncio client for Underbid's WebSocket protocol (docs/protocol.md).

:class:`AuctionClient` connects a bidder, an official or a public watcher to
one auction: it authenticates, keeps the latest view, yields every event once
and in order across reconnects, and sends bids that are retried with the same
``bid_id`` until they are answered (safe: the server executes a ``bid_id``
once). The bots, the end-to-end tests and the load tests use it.
"""

from client.session import (
    TERMINAL_CLOSE_CODES,
    AuctionClient,
    BidResult,
    ClientError,
    ConnectError,
)

__all__ = [
    "TERMINAL_CLOSE_CODES",
    "AuctionClient",
    "BidResult",
    "ClientError",
    "ConnectError",
]
