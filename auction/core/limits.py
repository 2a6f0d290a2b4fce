"""The bounds of every value an auction spec or a command may carry.

Why bounds: an amount, a time or a duration travels in events that are
encoded as MessagePack and JSON, read by browsers, and used in the formats'
arithmetic (a deadline plus an extension, an amount less a step, an amount
plus a life-cycle cost). Every such value must stay an exact integer on every
wire and in every client, so the bounds below keep them far inside JavaScript's
exact integers (2**53 - 1), which also keeps them inside the signed 64-bit
integers of the wire protocol. A value past a bound is refused where it enters
(the spec parser, the HTTP API, the WebSocket decoder) with the field named, so
it never reaches the runtime, where one auction's bad number could cost others
their events.

The text policy is for identifiers and human text that other people read or
that name things: ids must be unambiguous (``b1`` and ``b\\u200b1`` must not be
two bidders that look the same), names must not smuggle control characters
into logs, pages and documents.

Everything here is documented in docs/spec.md ("Limits") and docs/api.md.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

MAX_AMOUNT: Final = 10**15
"""Largest amount in minor units (10 trillion UAH): sums of two stay exact in JavaScript."""
MAX_TIME_MS: Final = 253_402_300_799_999
"""9999-12-31T23:59:59.999Z: the last moment a time may name (ms since epoch)."""
MAX_DURATION_MS: Final = 7 * 86_400_000
"""Longest single duration of a spec (a turn, a pause, an open lot, a stagger): 7 days."""
MAX_EXTENSION_MS: Final = 86_400_000
"""Longest extension one official command may add: 1 day (repeat it for more)."""
MAX_BIDDERS_PER_LOT: Final = 10_000
"""Admitted bidders of one lot."""
MAX_TURNS_PER_LOT: Final = 10_000
"""``rounds``: rounds x bidders (every turn is a timed step of its own)."""
MAX_CLOCK_STEPS: Final = 10_000
"""``dutch``: price steps from the start price to the limit price; ``japanese``:
rounds from the start value down to the floor (absolute steps)."""
MAX_LOTS: Final = 100
"""Lots of one auction."""
MAX_FEATURES: Final = 20
"""Non-price criteria of one lot."""
MAX_FEATURE_VALUES: Final = 20
"""Values one feature offers."""
MAX_ID_CHARS: Final = 128
"""Ids of auctions, lots, bidders and features."""
MAX_NAME_CHARS: Final = 300
"""Bidders' names, officials' names."""
MAX_TITLE_CHARS: Final = 1_000
"""Titles of auctions, lots and features."""
MAX_REASON_CHARS: Final = 1_000
"""An official's reason for a pause, a cancel or a disqualification."""
MAX_NUMBER_CHARS: Final = 40
"""A number written as text (``"0.15"``, ``"1/3"``)."""
MAX_EXACT_PART: Final = 10**18
"""Numerator and denominator bound of an exact number (a feature value, a percentage)."""


def text_problem(value: str, *, max_chars: int, is_id: bool) -> str | None:
    """Why ``value`` breaks the text policy, or None when it is fine.

    The policy: at most ``max_chars`` characters, already in Unicode NFC (so
    that one name has one spelling), only printable characters (no control,
    format — zero-width, bidi —, surrogate, private-use, unassigned or
    separator characters other than the plain space); ids also no space at all
    and not empty.
    """
    if len(value) > max_chars:
        return f"at most {max_chars} characters ({len(value)} given)"
    if is_id and not value:
        return "must not be empty"
    # str.isprintable() is exactly "no Unicode Other or Separator except the
    # ASCII space", at C speed (specs carry thousands of names).
    if not value.isprintable() or (is_id and " " in value):
        bad = next(c for c in value if not c.isprintable() or (is_id and c == " "))
        kind = "spaces or invisible" if is_id else "control or invisible"
        return f"must not contain {kind} characters (U+{ord(bad):04X})"
    if not value.isascii() and not unicodedata.is_normalized("NFC", value):
        return "must be in Unicode NFC form (compose accents: normalise the text first)"
    return None


_BOUND = re.compile(r"Expected `(int|float|int \| float)` (>=|<=|>|<) (-?[0-9.e+]+)$")
_LENGTH = re.compile(r"Expected `(str|array|object)` of length (>=|<=) ([0-9]+)$")
_WORDS = {">=": "at least", "<=": "at most", ">": "greater than", "<": "less than"}
_UNITS = {"str": "characters", "array": "entries", "object": "entries"}


def plain_bound(message: str) -> str:
    """A validator's bound message in plain words: ``Expected `int` >= 1`` ->
    ``must be at least 1``; ``Expected `str` of length <= 128`` -> ``must be at
    most 128 characters``. Any other message is returned as it is."""
    number = _BOUND.match(message)
    if number:
        value = number[3]
        shown = f"{int(value):,}" if value.lstrip("-").isdigit() else value
        return f"must be {_WORDS[number[2]]} {shown}"
    length = _LENGTH.match(message)
    if length:
        return f"must be {_WORDS[length[2]]} {int(length[3]):,} {_UNITS[length[1]]}"
    return message
