"""The spec's ``time_zone`` must name a zone this machine knows.

The core checks only its syntax (it reads no time-zone database: it stays
pure); the gateway, where a spec arrives, checks that the zone exists, so that
an official's typo is refused with the field named instead of every page
silently falling back to UTC.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from auction.core.errors import SpecError


def check_time_zone(name: str) -> None:
    """Raise :class:`SpecError` on ``time_zone`` unless it is a known IANA zone."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SpecError("time_zone", f"unknown time zone {name!r}") from None
