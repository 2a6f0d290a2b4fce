"""Spec builders shared by the tests: small valid auctions of every format.

Times are ms since epoch; every builder starts its auction at ``START``.
Keyword arguments override top-level spec keys or the format's settings.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from auction.core import Auction, AuctionSpec, parse_spec

START = 1_000_000
SEC = 1000


def bidders(n: int, *, amounts: list[int] | None = None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(n):
        b: dict[str, Any] = {"id": f"b{i + 1}", "name": f"Supplier {i + 1} LLC"}
        if amounts is not None:
            b["amount"] = amounts[i]
            b["submitted_at"] = i
        out.append(b)
    return out


def rounds_spec(n: int = 3, *, amounts: list[int] | None = None, **kw: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "id": "r1",
        "start_at": START,
        "format": "rounds",
        "start_value": 100_000,
        "minimal_step": 1_000,
        "bidders": bidders(n, amounts=amounts or [90_000 + 1_000 * i for i in range(n)]),
    }
    spec.update(kw)
    return spec


def open_spec(n: int = 3, **kw: Any) -> dict[str, Any]:
    settings = {"duration_s": 600, "decrement": 100}
    settings.update(kw.pop("open", {}))
    spec: dict[str, Any] = {
        "id": "o1",
        "start_at": START,
        "format": "open",
        "start_value": 100_000,
        "open": settings,
        "bidders": bidders(n),
    }
    spec.update(kw)
    return spec


def japanese_spec(n: int = 3, **kw: Any) -> dict[str, Any]:
    settings = {"round_s": 30, "step": 1_000, "floor": 1_000}
    settings.update(kw.pop("japanese", {}))
    spec: dict[str, Any] = {
        "id": "j1",
        "start_at": START,
        "format": "japanese",
        "start_value": 10_000,
        "japanese": settings,
        "bidders": bidders(n),
    }
    spec.update(kw)
    return spec


def dutch_spec(n: int = 3, **kw: Any) -> dict[str, Any]:
    settings = {
        "start_price": 5_000,
        "limit_price": 10_000,
        "step": 1_000,
        "interval_s": 10,
        "direction": "rising",
    }
    settings.update(kw.pop("dutch", {}))
    spec: dict[str, Any] = {
        "id": "d1",
        "start_at": START,
        "format": "dutch",
        "start_value": 10_000,
        "dutch": settings,
        "bidders": bidders(n),
    }
    spec.update(kw)
    return spec


def build(spec: dict[str, Any]) -> Auction:
    return Auction(parse_spec(spec))


def parsed(spec: dict[str, Any]) -> AuctionSpec:
    return parse_spec(spec)


_AUCTION_WIDE = ("id", "start_at", "title", "currency", "currency_exponent", "public")


def as_lot(spec: dict[str, Any], lot_id: str, **kw: Any) -> dict[str, Any]:
    """A single-lot builder's spec turned into one entry of ``lots``."""
    lot = {k: v for k, v in spec.items() if k not in _AUCTION_WIDE}
    lot["id"] = lot_id
    lot.update(kw)
    return lot


def multi_spec(*lots: dict[str, Any], **kw: Any) -> dict[str, Any]:
    """A multi-lot event from lot entries (see :func:`as_lot`)."""
    spec: dict[str, Any] = {"id": "m1", "start_at": START, "lots": list(lots)}
    spec.update(kw)
    return spec


def lot_of(spec: dict[str, Any], lot_id: str) -> dict[str, Any]:
    """The lot part of a single-lot builder's spec, as a lot of a multi-lot event."""
    lot = {k: v for k, v in spec.items() if k not in ("id", "start_at")}
    lot["id"] = lot_id
    return lot


def multi_lot_spec(*lots: dict[str, Any], **kw: Any) -> dict[str, Any]:
    """A multi-lot event; each lot from :func:`lot_of` (ids must differ)."""
    spec: dict[str, Any] = {"id": "m1", "start_at": START, "lots": list(lots)}
    spec.update(kw)
    return spec


EXAMPLES = Path(__file__).resolve().parents[1] / "config" / "examples"
"""The example specs and scripts shipped in config/examples/."""
EXAMPLE_SPECS = sorted(p for p in EXAMPLES.glob("*.toml") if not p.stem.endswith("-script"))
"""Every example spec (the scripts left out)."""
FACTORIES: dict[str, Callable[..., dict[str, Any]]] = {
    "rounds": rounds_spec,
    "open": open_spec,
    "japanese": japanese_spec,
    "dutch": dutch_spec,
}
"""A spec factory per format."""
