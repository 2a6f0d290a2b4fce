"""The demo auction: a ready-made spec for each format, starting now.

Used by ``underbid demo``; the same auctions as config/examples/, with the
start moved to the moment the demo runs.
"""

from __future__ import annotations

from typing import Any

DEMO_FORMATS = ("rounds", "open", "japanese", "dutch")

_SUPPLIERS = [
    ("s1", "Podilla Foods LLC", 48_500_000),
    ("s2", "Vinnytsia Catering PJSC", 49_200_000),
    ("s3", "Bread & Salt Ltd", 47_900_000),
    ("s4", "Kitchen Standard LLC", 49_800_000),
]


def demo_spec(fmt: str, start_at: int, *, pace: float = 1.0) -> dict[str, Any]:
    """A demo auction of format ``fmt`` that starts at ``start_at`` (ms).

    ``pace`` > 1 shortens every duration that many times (whole ms), for a
    live demo that should not take minutes.
    """
    if fmt not in DEMO_FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(DEMO_FORMATS)}")
    spec: dict[str, Any] = {
        "id": f"demo-{fmt}",
        "title": "School meals for Vinnytsia school No. 10 (demo)",
        "currency": "UAH",
        "start_at": start_at,
        "format": fmt,
        "start_value": 50_000_000,
        "bidders": [{"id": i, "name": n} for i, n, _ in _SUPPLIERS],
    }
    if fmt == "rounds":
        spec["minimal_step"] = 500_000
        spec["rounds"] = {
            "rounds": 3,
            "first_pause_s": _s(30, pace),
            "pause_s": _s(20, pace),
            "turn_s": _s(30, pace),
        }
        for j, (_, _, amount) in enumerate(_SUPPLIERS):
            spec["bidders"][j]["amount"] = amount
            spec["bidders"][j]["submitted_at"] = start_at - 86_400_000 + j * 60_000
    elif fmt == "open":
        spec["open"] = {
            "duration_s": _s(300, pace),
            "decrement_percent": "0.5",
            "dynamic_close_s": _s(30, pace),
            "dynamic_close_cap_s": _s(300, pace),
        }
    elif fmt == "japanese":
        spec["japanese"] = {"round_s": _s(20, pace), "step_percent": 2, "floor": 1_000_000}
    else:
        spec["dutch"] = {
            "start_price": 30_000_000,
            "limit_price": 50_000_000,
            "step": 500_000,
            "interval_s": _s(5, pace),
            "direction": "rising",
        }
    return spec


def _s(seconds: int, pace: float) -> str:
    """``seconds / pace`` as exact decimal text, rounded to whole milliseconds."""
    if pace <= 0:
        raise ValueError("pace must be greater than zero")
    ms = max(1, round(seconds * 1000 / pace))
    return f"{ms / 1000:.3f}"
