"""Money and exact numbers.

Every amount is an ``int`` in minor units (kopiyky, cents). Scores under
non-price criteria are :class:`fractions.Fraction`. A float never holds an
amount: decimal inputs are parsed from their text, so ``0.15`` is exactly
``3/20``.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from fractions import Fraction

Amount = int
"""An amount of money in minor units of the auction's currency."""

Score = int | Fraction
"""An amount after scoring: an int for price-only auctions, else exact."""


def parse_fraction(value: str | int | float | Fraction) -> Fraction:
    """Parse a decimal number exactly.

    A float is read through its shortest repr, which is what a human wrote in a
    JSON document (``0.15`` becomes ``3/20``, not the binary approximation).
    Raises :class:`ValueError` for anything that is not a finite number.
    """
    if isinstance(value, Fraction):
        return value
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(value, int):
        return Fraction(value)
    text = repr(value) if isinstance(value, float) else str(value).strip()
    try:
        dec = Decimal(text)
    except InvalidOperation:
        try:
            return Fraction(text)
        except (ValueError, ZeroDivisionError) as exc:
            raise ValueError(f"not a number: {value!r}") from exc
    if not dec.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return Fraction(dec)


def to_minor_units(major: str | int | float, exponent: int = 2) -> Amount:
    """Convert an amount in major units (``475000.0`` UAH) to minor units.

    Raises :class:`ValueError` if the amount has more decimals than the
    currency has minor units.
    """
    exact = parse_fraction(major) * 10**exponent
    if exact.denominator != 1:
        raise ValueError(f"{major!r} has more than {exponent} decimal places")
    return int(exact)


def ceil_fraction(value: Fraction) -> int:
    """The smallest integer not below ``value``."""
    return -((-value.numerator) // value.denominator)


def floor_fraction(value: Fraction) -> int:
    """The largest integer not above ``value``."""
    return value.numerator // value.denominator


def percent_of(amount: Amount, percent: Fraction) -> Amount:
    """``percent`` % of ``amount``, rounded up to a whole minor unit.

    Rounding up keeps a percentage step from shrinking to zero on small
    amounts: a step is always at least one minor unit when ``percent > 0``.
    """
    return ceil_fraction(Fraction(amount) * percent / 100)


def score_to_str(value: Score) -> str:
    """An exact text form of a score: a terminating decimal, else ``num/den``."""
    if isinstance(value, int):
        return str(value)
    if value.denominator == 1:
        return str(value.numerator)
    den = value.denominator
    twos = fives = 0
    while den % 2 == 0:
        den //= 2
        twos += 1
    while den % 5 == 0:
        den //= 5
        fives += 1
    if den != 1:
        return f"{value.numerator}/{value.denominator}"
    places = max(twos, fives)
    scaled = value * 10**places
    sign = "-" if scaled < 0 else ""
    digits = str(abs(int(scaled))).rjust(places + 1, "0")
    return f"{sign}{digits[:-places]}.{digits[-places:]}"


def format_amount(value: Score, currency: str = "", exponent: int = 2) -> str:
    """Human form with thousands separators: ``40800000`` -> ``408,000.00 UAH``.

    A fractional score is rounded half-up to the minor unit for display only.
    """
    minor = value if isinstance(value, int) else floor_fraction(value + Fraction(1, 2))
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(minor), 10**exponent)
    text = f"{sign}{whole:,}"
    if exponent:
        text += f".{frac:0{exponent}d}"
    return f"{text} {currency}".rstrip()
