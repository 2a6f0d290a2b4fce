"""The auction formats. Each module holds one format's rules and state."""

from __future__ import annotations

from typing import Any

from auction.core.formats.base import FormatRules


def rules_for(name: str) -> type[FormatRules[Any]]:
    """The rules class of a format name from the spec."""
    from auction.core.formats.dutch import DutchRules
    from auction.core.formats.japanese import JapaneseRules
    from auction.core.formats.open import OpenRules
    from auction.core.formats.rounds import RoundsRules

    table: dict[str, type[FormatRules[Any]]] = {
        "rounds": RoundsRules,
        "open": OpenRules,
        "japanese": JapaneseRules,
        "dutch": DutchRules,
    }
    return table[name]
