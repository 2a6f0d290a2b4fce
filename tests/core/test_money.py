"""Money and exact numbers: no float ever holds an amount."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auction.core.money import (
    ceil_fraction,
    floor_fraction,
    format_amount,
    parse_fraction,
    percent_of,
    score_to_str,
    to_minor_units,
)


# ---------------------------------------------------------- parse_fraction
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.15, Fraction(3, 20)),
        ("0.15", Fraction(3, 20)),
        (" 0.15 ", Fraction(3, 20)),
        (0.1, Fraction(1, 10)),
        (0.85, Fraction(17, 20)),
        (1e-7, Fraction(1, 10_000_000)),
        ("1e3", Fraction(1000)),
        (475000.0, Fraction(475000)),
        (7, Fraction(7)),
        (-3, Fraction(-3)),
        ("-2.5", Fraction(-5, 2)),
        ("1/3", Fraction(1, 3)),
        (Fraction(2, 7), Fraction(2, 7)),
    ],
)
def test_parse_fraction_is_exact(value: object, expected: Fraction) -> None:
    assert parse_fraction(value) == expected  # type: ignore[arg-type]


def test_parse_fraction_of_a_float_is_not_the_binary_approximation() -> None:
    assert parse_fraction(0.15) != Fraction(0.15)
    assert parse_fraction(0.1) + parse_fraction(0.2) == parse_fraction(0.3)


@pytest.mark.parametrize("value", [True, False, "abc", "", "nan", "inf", "-Infinity", "1/0"])
def test_parse_fraction_rejects_non_numbers(value: object) -> None:
    with pytest.raises(ValueError):
        parse_fraction(value)  # type: ignore[arg-type]


@given(st.decimals(allow_nan=False, allow_infinity=False, places=6))
def test_parse_fraction_round_trips_decimal_text(value: object) -> None:
    assert parse_fraction(str(value)) == Fraction(str(value))


# ---------------------------------------------------------- to_minor_units
@pytest.mark.parametrize(
    ("major", "exponent", "expected"),
    [
        ("475000.00", 2, 47_500_000),
        (475000.0, 2, 47_500_000),
        (0.1, 2, 10),
        (19.99, 2, 1_999),
        ("0.07", 2, 7),
        (12, 2, 1_200),
        (12, 0, 12),
        ("1.234", 3, 1_234),
        ("-5.5", 2, -550),
    ],
)
def test_to_minor_units(major: str | int | float, exponent: int, expected: int) -> None:
    result = to_minor_units(major, exponent)
    assert result == expected
    assert isinstance(result, int)


@pytest.mark.parametrize(
    ("major", "exponent"), [("1.005", 2), (0.1 + 0.2, 2), ("0.5", 0), ("1.2345", 3)]
)
def test_to_minor_units_rejects_extra_decimals(major: str | float, exponent: int) -> None:
    with pytest.raises(ValueError, match="decimal places"):
        to_minor_units(major, exponent)


# ------------------------------------------------------------- rounding
@pytest.mark.parametrize(
    ("value", "ceil", "floor"),
    [
        (Fraction(7, 2), 4, 3),
        (Fraction(-7, 2), -3, -4),
        (Fraction(4), 4, 4),
        (Fraction(1, 1000), 1, 0),
    ],
)
def test_ceil_and_floor_fraction(value: Fraction, ceil: int, floor: int) -> None:
    assert ceil_fraction(value) == ceil
    assert floor_fraction(value) == floor


@pytest.mark.parametrize(
    ("amount", "percent", "expected"),
    [
        (10_000, Fraction(15), 1_500),
        (8_500, Fraction(15), 1_275),
        (7_225, Fraction(15), 1_084),  # 1083.75 rounds up
        (999, Fraction(1), 10),  # 9.99 rounds up
        (1, Fraction(1, 2), 1),  # never zero for a positive percent
        (100, Fraction(1, 2), 1),  # 0.5 rounds up
        (200, Fraction(1, 2), 1),  # exact
        (0, Fraction(10), 0),
    ],
)
def test_percent_of_rounds_up(amount: int, percent: Fraction, expected: int) -> None:
    assert percent_of(amount, percent) == expected


@given(st.integers(min_value=1, max_value=10**12), st.fractions(min_value=0, max_value=100))
def test_percent_of_is_the_smallest_whole_unit_not_below(amount: int, percent: Fraction) -> None:
    exact = Fraction(amount) * percent / 100
    step = percent_of(amount, percent)
    assert step >= exact > step - 1
    if percent > 0:
        assert step >= 1


# ------------------------------------------------------------ score_to_str
@pytest.mark.parametrize(
    ("value", "text"),
    [
        (5, "5"),
        (-5, "-5"),
        (Fraction(10, 1), "10"),
        (Fraction(425_000), "425000"),
        (Fraction(1, 8), "0.125"),
        (Fraction(5, 2), "2.5"),
        (Fraction(-5, 2), "-2.5"),
        (Fraction(1, 20), "0.05"),
        (Fraction(-1, 20), "-0.05"),
        (Fraction(1, 1024), "0.0009765625"),
        (Fraction(1, 3), "1/3"),
        (Fraction(-7, 3), "-7/3"),
        (Fraction(1, 6), "1/6"),  # a factor 3 beside the 2: does not terminate
        (Fraction(47_500_000 * 17, 20), "40375000"),
    ],
)
def test_score_to_str(value: int | Fraction, text: str) -> None:
    assert score_to_str(value) == text


@given(st.fractions(max_denominator=10**6))
def test_score_to_str_is_exact(value: Fraction) -> None:
    text = score_to_str(value)
    assert Fraction(text) == value


# ----------------------------------------------------------- format_amount
@pytest.mark.parametrize(
    ("value", "currency", "exponent", "text"),
    [
        (40_800_000, "UAH", 2, "408,000.00 UAH"),
        (47_500_000, "", 2, "475,000.00"),
        (5, "EUR", 2, "0.05 EUR"),
        (123_456_789, "USD", 2, "1,234,567.89 USD"),
        (-123_456, "USD", 2, "-1,234.56 USD"),
        (1_234_567, "JPY", 0, "1,234,567 JPY"),
        (1_234_567, "KWD", 3, "1,234.567 KWD"),
        (999, "", 2, "9.99"),
        (0, "", 2, "0.00"),
        (Fraction(201, 2), "UAH", 2, "1.01 UAH"),  # 100.5 minor units, half up
        (Fraction(401, 4), "UAH", 2, "1.00 UAH"),  # 100.25 rounds down
        (Fraction(42_500_000), "UAH", 2, "425,000.00 UAH"),
    ],
)
def test_format_amount(value: int | Fraction, currency: str, exponent: int, text: str) -> None:
    assert format_amount(value, currency, exponent) == text
