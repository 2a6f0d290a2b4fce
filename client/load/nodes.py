"""The servers of a load test: one node, a cluster's nodes, or independent servers.

``--ub-nodes`` / ``--url`` take one URL or several, comma-separated. How the
load spreads over them is the *placement*:

- ``spread`` (the default): the nodes form one cluster (``underbid serve
  --redis URL`` processes on one Redis with one ``security.token_secret``, or
  ``--workers N``): any node serves any auction. Auction *i* is created
  through node ``i mod n``, and connection *j* of it starts on node
  ``(i + j) mod n`` and, when dropped, resumes on the next node, and so on
  round the list.
- ``pinned``: independent servers, each with its own auctions. Auction *i*
  lives on node ``i mod n``, and all its connections go there (a dropped one
  comes back to the same node).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from auction.core.errors import UnderbidError

Placement = Literal["spread", "pinned"]
PLACEMENTS: tuple[Placement, ...] = ("spread", "pinned")
MAX_NODES = 64


class NodesError(UnderbidError):
    """A node list that cannot be used (names the bad URL)."""


def parse_nodes(text: str) -> tuple[str, ...]:
    """``"http://a:8000,http://b:8000"`` -> the URLs, checked, without a trailing ``/``."""
    urls: list[str] = []
    for part in text.split(","):
        url = part.strip().rstrip("/")
        if not url:
            continue
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise NodesError(f"not an http(s):// node URL: {url[:200]!r}")
        try:
            parts.port  # noqa: B018 - raises for a bad port
        except ValueError:
            raise NodesError(f"bad port in {url[:200]!r}") from None
        if url not in urls:
            urls.append(url)
    if not urls:
        raise NodesError("no node URL given")
    if len(urls) > MAX_NODES:
        raise NodesError(f"{len(urls)} nodes: at most {MAX_NODES}")
    return tuple(urls)


@dataclass(frozen=True)
class Nodes:
    urls: tuple[str, ...]
    placement: Placement = "spread"

    def __post_init__(self) -> None:
        if not self.urls:
            raise NodesError("no node URL given")
        if self.placement not in PLACEMENTS:
            raise NodesError(f"placement {self.placement!r}: spread or pinned")

    def home(self, auction_index: int) -> str:
        """The node an auction is created through (and, pinned, lives on)."""
        return self.urls[auction_index % len(self.urls)]

    def route(self, auction_index: int, connection: int) -> tuple[str, ...]:
        """The nodes a connection tries, in order: first where it starts, then where it resumes."""
        if self.placement == "pinned":
            return (self.home(auction_index),)
        n = len(self.urls)
        first = (auction_index + connection) % n
        return tuple(self.urls[(first + k) % n] for k in range(n))


__all__ = ["PLACEMENTS", "Nodes", "NodesError", "Placement", "parse_nodes"]
