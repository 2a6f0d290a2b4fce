"""Which node should own which auction: rendezvous hashing with bounded load.

Every node computes the same assignment from the same two lists (the live
nodes that may own auctions, the active auctions), with no coordinator and no
message exchanged, so they agree on who should own what as soon as they agree
on who is alive:

- **Rendezvous (highest random weight) hashing**: each auction ranks the nodes
  by ``hash(auction, node)`` and prefers the first. When a node joins or
  leaves, only the auctions whose preferred node changed move (about 1/n of
  them), instead of most of them as with ``hash mod n``.
- **Bounded load** (Mirrokni, Thorup and Zadimoghaddam, "Consistent hashing
  with bounded loads", 2018): a node takes at most ``ceil(c * auctions /
  nodes)`` auctions (``c`` = :data:`SLACK`); an auction whose preferred node
  is full goes to its next preference. With 40 auctions on 4 nodes no node
  gets more than 13 (plain rendezvous hashing gives one of them 15 or more
  in about one draw in five).

The order of work is fixed (auctions by their own hash), so the result is a
pure function of the two sets. SHA-256 keeps it the same on every machine and
Python build (``hash()`` is salted per process).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from typing import Final

SLACK: Final = 1.25
"""How far above the average one node may be loaded."""


def _weight(*parts: str) -> int:
    digest = hashlib.sha256("\x00".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def capacity(auctions: int, nodes: int, slack: float = SLACK) -> int:
    """The most auctions one node is given (at least 1)."""
    if nodes <= 0:
        return 0
    return max(1, math.ceil(slack * auctions / nodes))


def assign(auctions: Iterable[str], nodes: Iterable[str], slack: float = SLACK) -> dict[str, str]:
    """Auction -> the node that should own it. Empty when there is no node."""
    pool = sorted(set(nodes))
    wanted = sorted(set(auctions), key=lambda a: (_weight(a), a))
    if not pool:
        return {}
    cap = capacity(len(wanted), len(pool), slack)
    load = dict.fromkeys(pool, 0)
    out: dict[str, str] = {}
    for auction in wanted:
        ranked = sorted(pool, key=lambda n: (_weight(auction, n), n), reverse=True)
        chosen = next((n for n in ranked if load[n] < cap), ranked[0])
        load[chosen] += 1
        out[auction] = chosen
    return out
